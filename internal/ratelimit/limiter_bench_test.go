package ratelimit

import (
	"context"
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mdingest/mdingest/internal/priority"
)

// The budget is large enough never to make a caller wait, so these measure
// the bookkeeping: compare Limiter with the bare x/time/rate baseline.
const benchLimit = math.MaxInt32

func BenchmarkBaselineRateWait(b *testing.B) {
	l := rate.NewLimiter(rate.Limit(benchLimit), benchLimit)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterWait(b *testing.B) {
	l, err := New(Options{Exchange: "bench", Limit: benchLimit, Window: time.Second, Burst: benchLimit})
	if err != nil {
		b.Fatal(err)
	}
	ctx := priority.With(context.Background(), priority.High)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterWaitParallel(b *testing.B) {
	l, err := New(Options{Exchange: "bench", Limit: benchLimit, Window: time.Second, Burst: benchLimit})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := l.Wait(ctx, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
