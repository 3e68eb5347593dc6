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

	"github.com/mdingest/mdingest/internal/priority"
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
	opts.Shared, opts.KeyPrefix, opts.Clock, opts.Exchange, opts.Egress = client, prefix, clock, "binance", "host-a"
	a, _ := newTestLimiter(t, opts)
	b, _ := newTestLimiter(t, opts)
	return a, b, clock
}

// grantAll starts n Waits of one unit on each limiter and returns the
// count of those granted so far.
func grantAll(ctx context.Context, wg *sync.WaitGroup, n int, ls ...*Limiter) *atomic.Int32 {
	var granted atomic.Int32
	for range n {
		for _, l := range ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l.Wait(ctx, 1) == nil {
					granted.Add(1)
				}
			}()
		}
	}
	return &granted
}

func TestSharedLimitersStayWithinOneBudget(t *testing.T) {
	ctx := testCtx(t)
	// Each limiter alone would allow 10 at once; together they must not
	// exceed the shared 10 per window.
	a, b, clock := sharedPair(t, Options{Limit: 10, Window: time.Minute, Burst: 10})

	var wg sync.WaitGroup
	defer wg.Wait()
	granted := grantAll(ctx, &wg, 10, a, b)
	require.Eventually(t, func() bool { return a.Waiting()+b.Waiting() == 10 && granted.Load() == 10 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 10.0, max(a.Used(), b.Used()), "the last to take saw the whole window")

	// Both limiters wait for the next window; then the rest fit exactly.
	require.NoError(t, clock.BlockUntilContext(ctx, withWaiters(a, b)))
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return granted.Load() == 20 }, 2*time.Second, time.Millisecond, "%d %s %s", granted.Load(), a.debugState(), b.debugState())
}

func TestSharedFreeze(t *testing.T) {
	ctx := testCtx(t)
	a, b, clock := sharedPair(t, Options{Limit: 6000, Window: time.Minute, Burst: 100})
	until := epoch.Add(30 * time.Second)
	a.Freeze(until)

	var wg sync.WaitGroup
	defer wg.Wait()
	done := waitAsync(ctx, &wg, b, priority.Critical, 1)
	waitQueued(t, b, 1)
	require.True(t, until.Equal(b.FrozenUntil()), "b learnt a's freeze from Redis: %v", b.FrozenUntil())
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(29 * time.Second)
	require.Equal(t, 1, b.Waiting())
	clock.Advance(time.Second)
	require.NoError(t, recv(t, ctx, done))
}

func TestSharedReports(t *testing.T) {
	ctx := testCtx(t)
	a, b, clock := sharedPair(t, Options{Limit: 10, Window: time.Minute, Burst: 10})
	tk, err := a.Acquire(ctx, 1)
	require.NoError(t, err)
	tk.Finish(at(clock.Now(), 9))
	require.NoError(t, b.Wait(ctx, 1))
	require.Equal(t, 10.0, b.Used(), "b counts what a's answer reported")

	var wg sync.WaitGroup
	defer wg.Wait()
	done := waitAsync(ctx, &wg, a, priority.Critical, 1)
	waitQueued(t, a, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(time.Minute)
	require.NoError(t, recv(t, ctx, done))
}

func TestSharedRedisDownFallsBackToLocalShare(t *testing.T) {
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
		Shared: client, Egress: "host-a", Logger: slog.New(logs), Registerer: reg,
	})
	l.SetPeers(2) // another process sends from this egress

	for i := range 5 {
		require.NoError(t, l.Wait(ctx, 1), "wait %d", i)
	}
	require.Equal(t, 1, logs.count(slog.LevelWarn), "logged once")
	// Only the first call tried Redis; the rest skipped it for a while.
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.sharedErrors.WithLabelValues("testex")))

	// Half the budget is ours while Redis is away.
	var wg sync.WaitGroup
	defer wg.Wait()
	sixth := waitAsync(ctx, &wg, l, priority.Critical, 1)
	waitQueued(t, l, 1)

	// After the pause it tries again (and fails again, without logging);
	// the window has not moved, so the sixth still waits.
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(sharedRetryAfter)
	require.Equal(t, 1, l.Waiting())
	clock.Advance(time.Minute - sharedRetryAfter)
	require.NoError(t, recv(t, ctx, sixth))
	require.Equal(t, 2.0, testutil.ToFloat64(l.m.sharedErrors.WithLabelValues("testex")))
	require.Equal(t, 1, logs.count(slog.LevelWarn))
}

func TestSharedKeys(t *testing.T) {
	s := newShared(Options{Exchange: "binance", Egress: "host-a", Window: time.Minute})
	require.Equal(t, "mdingest:ratelimit:host-a:binance:w:"+strconv.Itoa(42), s.windowKey(42))
	require.Equal(t, "mdingest:ratelimit:host-a:binance:frozen_until", s.key("frozen_until"))
}

// TestEgressNamespacesTheBudget: processes on one egress share its budget;
// a process on another egress (another machine, another IP) has its own.
func TestEgressNamespacesTheBudget(t *testing.T) {
	ctx := testCtx(t)
	client, prefix := testRedis(t)
	clock := clockwork.NewFakeClockAt(epoch)
	mk := func(egress string) *Limiter {
		l, _ := newTestLimiter(t, Options{Exchange: "binance", Limit: 10, Window: time.Minute, Burst: 10,
			Shared: client, KeyPrefix: prefix, Egress: egress, Clock: clock})
		return l
	}
	a1, a2, b := mk("host-a"), mk("host-a"), mk("host-b")

	var wg sync.WaitGroup
	defer wg.Wait()
	shared := grantAll(ctx, &wg, 10, a1, a2)
	alone := grantAll(ctx, &wg, 10, b)
	require.Eventually(t, func() bool { return a1.Waiting()+a2.Waiting() == 10 && shared.Load() == 10 }, 5*time.Second, time.Millisecond,
		"host-a's two processes share 10")
	require.Eventually(t, func() bool { return alone.Load() == 10 }, 5*time.Second, time.Millisecond)
	require.Zero(t, b.Waiting(), "host-b has its own 10")

	require.NoError(t, clock.BlockUntilContext(ctx, withWaiters(a1, a2)))
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return shared.Load() == 20 }, 5*time.Second, time.Millisecond)
}

// withWaiters counts the limiters that have requests waiting: each of
// them sleeps on one timer of the clock.
func withWaiters(ls ...*Limiter) int {
	n := 0
	for _, l := range ls {
		if l.Waiting() > 0 {
			n++
		}
	}
	return n
}

func (l *Limiter) debugState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	est, _ := l.fixedEstLocked()
	return fmt.Sprintf("queue=%d est=%v cur=%d frozen=%v timer=%v", len(l.queue), est, l.cur, l.frozenUntil, l.timer != nil)
}

// TestSharedTogetherStayWithinTheLimit: two processes sharing one budget
// through Redis never exceed the exchange's limit together, for every kind
// of window, and use nearly all of it.
func TestSharedTogetherStayWithinTheLimit(t *testing.T) {
	const limit, window = 40.0, 10 * time.Second
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			client, prefix := testRedis(t)
			clock := clockwork.NewFakeClockAt(epoch)
			var ls []*Limiter
			for range 2 {
				l, _ := newTestLimiter(t, Options{Kind: kind, Limit: limit, Window: window, Burst: 8, Reserve: 0.1,
					Shared: client, KeyPrefix: prefix, Egress: "host-a", Clock: clock})
				ls = append(ls, l)
			}
			all := simulate(t, clock, kind, window, ls, 1000, 99)
			require.Zero(t, overLimit(kind, limit, 8, window, all))
			t.Logf("share %.3f", usedShare(limit, window, all))
			require.Greater(t, usedShare(limit, window, all), 0.85)
		})
	}
}
