package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// testRedis connects to REDIS_URL (default redis://127.0.0.1:6379/15) and
// returns a key prefix of its own, whose keys are deleted at the end.
// An unreachable Redis fails the test: CI must provide one.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	client := redis.NewClient(opts)
	ctx := testCtx(t)
	require.NoError(t, client.Ping(ctx).Err(), "Redis at %s", url)

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "mdingest:test:" + hex.EncodeToString(b) + ":ratelimit"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		require.NoError(t, iter.Err())
		require.NoError(t, client.Close())
	})
	return client, prefix
}

func sharedPair(t *testing.T, opts Options) (*Limiter, *Limiter, *clockwork.FakeClock) {
	t.Helper()
	client, prefix := testRedis(t)
	clock := clockwork.NewFakeClockAt(epoch)
	opts.Shared, opts.KeyPrefix, opts.Clock, opts.Exchange = client, prefix, clock, "binance"
	a, _ := newTestLimiter(t, opts)
	b, _ := newTestLimiter(t, opts)
	return a, b, clock
}

func TestSharedLimitersStayWithinOneBudget(t *testing.T) {
	ctx := testCtx(t)
	// Each limiter alone would allow 10 at once; together they must not
	// exceed the shared 10 per window.
	a, b, clock := sharedPair(t, Options{Limit: 10, Window: time.Minute, Burst: 10})

	var wg sync.WaitGroup
	defer wg.Wait()
	var granted atomic.Int32
	for range 10 {
		for _, l := range []*Limiter{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l.Wait(ctx, 1) == nil {
					granted.Add(1)
				}
			}()
		}
	}
	require.Eventually(t, func() bool { return a.Waiting()+b.Waiting() == 10 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return granted.Load() == 10 }, 5*time.Second, time.Millisecond)

	client := a.shared.client.(*redis.Client)
	used, err := client.Get(ctx, a.shared.usedKey(a.windowIndex(clock.Now()))).Int()
	require.NoError(t, err)
	require.Equal(t, 10, used)

	// Both limiters wait for the next window; then the rest fit exactly.
	waiting := 0
	for _, l := range []*Limiter{a, b} {
		if l.Waiting() > 0 {
			waiting++
		}
	}
	require.NoError(t, clock.BlockUntilContext(ctx, waiting))
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return granted.Load() == 20 }, 2*time.Second, time.Millisecond, "%d %s %s", granted.Load(), a.debugState(), b.debugState())
	used, err = client.Get(ctx, a.shared.usedKey(a.windowIndex(clock.Now()))).Int()
	require.NoError(t, err)
	require.Equal(t, 10, used)
}

func TestSharedFreeze(t *testing.T) {
	ctx := testCtx(t)
	a, b, clock := sharedPair(t, Options{Limit: 6000, Window: time.Minute, Burst: 100})
	until := epoch.Add(30 * time.Second)
	a.Freeze(until)

	var wg sync.WaitGroup
	defer wg.Wait()
	done := waitAsync(ctx, &wg, b, Critical, 1)
	waitQueued(t, b, 1)
	require.True(t, until.Equal(b.FrozenUntil()), "b learnt a's freeze from Redis: %v", b.FrozenUntil())
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(29 * time.Second)
	require.Equal(t, 1, b.Waiting())
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, done))
}

func TestSharedObserve(t *testing.T) {
	ctx := testCtx(t)
	a, b, clock := sharedPair(t, Options{Limit: 10, Window: time.Minute, Burst: 10})
	a.Observe(9, clock.Now())
	require.NoError(t, b.Wait(ctx, 1))
	require.Equal(t, 10.0, b.Used(), "b counts a's reported weight")

	var wg sync.WaitGroup
	defer wg.Wait()
	done := waitAsync(ctx, &wg, a, Critical, 1)
	waitQueued(t, a, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Minute)
	require.NoError(t, recv(t, ctx, done))
}

func TestSharedRedisDownFallsBackToLocal(t *testing.T) {
	ctx := testCtx(t)
	client := redis.NewClient(&redis.Options{
		Addr:        "127.0.0.1:1", // nothing listens there
		DialTimeout: 100 * time.Millisecond,
		MaxRetries:  -1,
	})
	t.Cleanup(func() { require.NoError(t, client.Close()) })
	logs := &countingHandler{}
	reg := prometheus.NewRegistry()
	l, clock := newTestLimiter(t, Options{
		Limit: 10, Window: time.Minute, Burst: 10,
		Shared: client, Logger: slog.New(logs), Registerer: reg,
	})

	for i := range 3 {
		require.NoError(t, l.Wait(ctx, 1), "wait %d", i)
	}
	l.Observe(5, clock.Now())
	require.Equal(t, 5.0, l.Used())
	require.Equal(t, 1, logs.count(slog.LevelWarn), "logged once")
	// Only the first call tried Redis; the rest skipped it for a while.
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.sharedErrors.WithLabelValues("testex")))

	// After the pause it tries again (and fails again, without logging).
	clock.Advance(sharedRetryAfter)
	require.NoError(t, l.Wait(ctx, 1))
	require.Equal(t, 2.0, testutil.ToFloat64(l.m.sharedErrors.WithLabelValues("testex")))
	require.Equal(t, 1, logs.count(slog.LevelWarn))
}

func TestSharedKeys(t *testing.T) {
	s := newShared(Options{Exchange: "binance", Window: time.Minute}, clockwork.NewFakeClock())
	require.Equal(t, "mdingest:ratelimit:binance:used:"+strconv.Itoa(42), s.usedKey(42))
	require.Equal(t, "mdingest:ratelimit:binance:frozen_until", s.frozenKey())
}

func (l *Limiter) debugState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("queue=%d used=%v idx=%d tokens=%v frozen=%v timer=%v", len(l.queue), l.winUsed, l.winIdx, l.bucket.TokensAt(l.clock.Now()), l.frozenUntil, l.timer != nil)
}
