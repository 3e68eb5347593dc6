package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/priority"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is a window-aligned start for fake clocks, so tests never straddle
// a window boundary by accident.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testCtx bounds a test's blocking calls so that a bug fails instead of hangs.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestLimiter(t *testing.T, opts Options) (*Limiter, *clockwork.FakeClock) {
	t.Helper()
	clock, ok := opts.Clock.(*clockwork.FakeClock)
	if !ok {
		clock = clockwork.NewFakeClockAt(epoch)
		opts.Clock = clock
	}
	if opts.Exchange == "" {
		opts.Exchange = "testex"
	}
	l, err := New(opts)
	require.NoError(t, err)
	return l, clock
}

// waitQueued polls until n requests wait in l. Polling only synchronises
// with goroutines; nothing here depends on how long it takes.
func waitQueued(t *testing.T, l *Limiter, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return l.Waiting() == n }, 5*time.Second, time.Millisecond,
		"want %d waiting", n)
}

// waitAsync starts Wait in a goroutine and reports the result on the
// returned channel.
func waitAsync(ctx context.Context, wg *sync.WaitGroup, l *Limiter, p priority.Priority, cost int) <-chan error {
	done := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- l.Wait(priority.With(ctx, p), cost)
	}()
	return done
}

func recv[T any](t *testing.T, ctx context.Context, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatal("timed out waiting for a result")
		panic("unreachable")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no exchange", Options{Limit: 10, Window: time.Second}},
		{"negative limit", Options{Exchange: "x", Limit: -1, Window: time.Second}},
		{"limit without window", Options{Exchange: "x", Limit: 10}},
		{"negative burst", Options{Exchange: "x", Limit: 10, Window: time.Second, Burst: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			require.ErrorIs(t, err, ErrInvalidOptions)
		})
	}
}

func TestWaitServesHigherPriorityFirst(t *testing.T) {
	ctx := testCtx(t)
	// One unit per second, burst 1, no aging: each Advance frees one slot.
	l, clock := newTestLimiter(t, Options{Limit: 60, Window: time.Minute, Burst: 1, AgingStep: -1})
	require.NoError(t, l.Wait(ctx, 1)) // drains the bucket

	var wg sync.WaitGroup
	defer wg.Wait()
	granted := make(chan priority.Priority, 4)
	for _, p := range []priority.Priority{priority.Low, priority.Medium, priority.High, priority.Critical} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Wait(priority.With(ctx, p), 1) == nil {
				granted <- p
			}
		}()
	}
	waitQueued(t, l, 4)

	for _, want := range []priority.Priority{priority.Critical, priority.High, priority.Medium, priority.Low} {
		require.NoError(t, clock.BlockUntilContext(ctx, 1)) // the dispatch timer is armed
		clock.Advance(time.Second)
		require.Equal(t, want, recv(t, ctx, granted))
	}
	require.Zero(t, l.Waiting())
}

func TestWaitAgingPreventsStarvation(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 60, Window: time.Minute, Burst: 1, AgingStep: 2 * time.Second})
	require.NoError(t, l.Wait(ctx, 1))

	var wg sync.WaitGroup
	defer wg.Wait()
	low := waitAsync(ctx, &wg, l, priority.Low, 1)
	waitQueued(t, l, 1)

	// A fresh High request arrives every second, more than the budget
	// serves. Low rises a level every 2s and, being older, wins the tie with
	// High at t=4s.
	var highs []<-chan error
	for sec := 1; ; sec++ {
		highs = append(highs, waitAsync(ctx, &wg, l, priority.High, 1))
		waitQueued(t, l, 2)
		require.NoError(t, clock.BlockUntilContext(ctx, 1))
		clock.Advance(time.Second)
		if sec < 4 {
			require.NoError(t, recv(t, ctx, highs[sec-1]), "high #%d at t=%ds", sec, sec)
			continue
		}
		require.NoError(t, recv(t, ctx, low), "low at t=%ds", sec)
		break
	}
	// The last High still waits; let it through.
	require.Equal(t, 1, l.Waiting())
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, highs[len(highs)-1]))
}

func TestWaitBigHighPriorityRequestIsNotOvertaken(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 600, Window: time.Minute, Burst: 5, AgingStep: -1})
	require.NoError(t, l.Wait(ctx, 5))

	var wg sync.WaitGroup
	defer wg.Wait()
	big := waitAsync(ctx, &wg, l, priority.High, 5)
	waitQueued(t, l, 1)
	small := waitAsync(ctx, &wg, l, priority.Low, 1)
	waitQueued(t, l, 2)

	// 10 units/s: after 0.1s one unit is there, enough for small, but the
	// high-priority request is first in line.
	clock.Advance(100 * time.Millisecond)
	require.Equal(t, 2, l.Waiting())
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(400 * time.Millisecond)
	require.NoError(t, recv(t, ctx, big))
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(100 * time.Millisecond)
	require.NoError(t, recv(t, ctx, small))
}

func TestWaitCancelled(t *testing.T) {
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	l, clock := newTestLimiter(t, Options{Limit: 60, Window: time.Minute, Burst: 1, Registerer: reg, AgingStep: -1})
	require.NoError(t, l.Wait(ctx, 1))

	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	first := waitAsync(cctx, &wg, l, priority.Critical, 1)
	waitQueued(t, l, 1)
	second := waitAsync(ctx, &wg, l, priority.Low, 1)
	waitQueued(t, l, 2)
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.queueDepth.WithLabelValues("testex", "critical")))

	cancel()
	require.ErrorIs(t, recv(t, ctx, first), context.Canceled)
	waitQueued(t, l, 1)
	require.Zero(t, testutil.ToFloat64(l.m.queueDepth.WithLabelValues("testex", "critical")))

	// The cancelled head no longer holds up the queue.
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, second))

	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	require.ErrorIs(t, l.Wait(done, 1), context.Canceled)
}

func TestFreeze(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 6000, Window: time.Minute, Burst: 100})
	until := epoch.Add(10 * time.Second)
	l.Freeze(until)
	l.Freeze(epoch.Add(time.Second)) // an earlier end does not shorten the freeze
	require.Equal(t, until, l.FrozenUntil())

	var wg sync.WaitGroup
	defer wg.Wait()
	a := waitAsync(ctx, &wg, l, priority.Critical, 1)
	b := waitAsync(ctx, &wg, l, priority.Low, 1)
	waitQueued(t, l, 2)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(9 * time.Second)
	require.Equal(t, 2, l.Waiting(), "still frozen")
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, a))
	require.NoError(t, recv(t, ctx, b))
}

func TestFreezeWithoutLimit(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{})
	require.NoError(t, l.Wait(ctx, 1000))
	l.Freeze(epoch.Add(time.Minute))

	var wg sync.WaitGroup
	defer wg.Wait()
	a := waitAsync(ctx, &wg, l, priority.Medium, 1)
	waitQueued(t, l, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Minute)
	require.NoError(t, recv(t, ctx, a))
}

// at is a Report from a server whose clock reads date, reporting used.
func at(date time.Time, used float64) Report {
	return Report{Date: date.Truncate(time.Second), Used: used, HasUsed: true}
}

func TestReportsCorrectTheWindowUpAndDown(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 20, Window: time.Minute, Burst: 20})
	tk, err := l.Acquire(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, 5.0, l.Used(), "in flight counts")
	tk.Finish(at(clock.Now(), 2))
	require.Equal(t, 2.0, l.Used(), "the server charged less than we did: down")

	tk, err = l.Acquire(ctx, 1)
	require.NoError(t, err)
	tk.Finish(at(clock.Now(), 9))
	require.Equal(t, 9.0, l.Used(), "someone else on the IP spent 6: up")

	// A report about the previous window says nothing about this one.
	tk, err = l.Acquire(ctx, 1)
	require.NoError(t, err)
	tk.Finish(at(epoch.Add(-time.Second), 50))
	require.Equal(t, 10.0, l.Used())

	require.NoError(t, l.Wait(ctx, 10)) // the whole budget
	require.Equal(t, 20.0, l.Used())

	var wg sync.WaitGroup
	defer wg.Wait()
	next := waitAsync(ctx, &wg, l, priority.Critical, 1)
	waitQueued(t, l, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(59 * time.Second)
	require.Equal(t, 1, l.Waiting(), "budget spent until the window ends")
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, next))
	require.Equal(t, 1.0, l.Used())
}

func TestCostAboveBurstOpensAnEmptyWindow(t *testing.T) {
	ctx := testCtx(t)
	l, _ := newTestLimiter(t, Options{Limit: 10, Window: time.Second, Burst: 3})
	require.NoError(t, l.Wait(ctx, 50))
	require.Equal(t, 50.0, l.Used(), "charged in full, not the burst")
}

func TestWaitMetrics(t *testing.T) {
	ctx := testCtx(t)
	reg := prometheus.NewRegistry()
	l, clock := newTestLimiter(t, Options{Exchange: "binance", Limit: 60, Window: time.Minute, Burst: 1, Registerer: reg})
	// A second limiter on the same registerer shares the collectors.
	_, err := New(Options{Exchange: "kraken", Limit: 1, Window: time.Second, Registerer: reg, Clock: clock})
	require.NoError(t, err)

	require.NoError(t, l.Wait(priority.With(ctx, priority.High), 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	a := waitAsync(ctx, &wg, l, priority.High, 1)
	waitQueued(t, l, 1)
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.queueDepth.WithLabelValues("binance", "high")))
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, a))

	require.Zero(t, testutil.ToFloat64(l.m.queueDepth.WithLabelValues("binance", "high")))
	count, sum := histogram(t, reg, "ratelimit_wait_seconds", "binance", "high")
	require.Equal(t, uint64(2), count)
	require.InDelta(t, 1.0, sum, 1e-9, "one request waited 0s, the other 1s")
	count, _ = histogram(t, reg, "ratelimit_wait_seconds", "binance", "low")
	require.Zero(t, count)
	// Series exist from the start: 4 priorities for each of the two exchanges.
	require.Equal(t, 8, testutil.CollectAndCount(reg, "ratelimit_queue_depth"))
	require.Equal(t, 8, testutil.CollectAndCount(reg, "ratelimit_wait_seconds"))
	// The limit beside the count, so utilisation is used / limit.
	require.Equal(t, 60.0, testutil.ToFloat64(l.m.windowLimit.WithLabelValues("binance")))
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.windowLimit.WithLabelValues("kraken")))
}

func histogram(t *testing.T, g prometheus.Gatherer, name, exchange, prio string) (uint64, float64) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["exchange"] == exchange && labels["priority"] == prio {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no %s{exchange=%q,priority=%q}", name, exchange, prio)
	return 0, 0
}

// countingHandler counts log records by level.
type countingHandler struct {
	mu     sync.Mutex
	counts map[slog.Level]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[slog.Level]int{}
	}
	h.counts[r.Level]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[level]
}
