package ratelimit

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/priority"
)

// tryNow grants cost at priority p if the limiter allows it right now,
// without queueing: a probe for tests that drive a fake clock themselves.
func (l *Limiter) tryNow(p priority.Priority, cost int) *Ticket {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.rollLocked(now)
	w := &waiter{prio: p, cost: cost, queued: now}
	if d, _ := l.tryTakeLocked(now, w); d > 0 {
		return nil
	}
	return w.ticket
}

func acquire(t *testing.T, ctx context.Context, l *Limiter, p priority.Priority, cost int) *Ticket {
	t.Helper()
	tk, err := l.Acquire(priority.With(ctx, p), cost)
	require.NoError(t, err)
	return tk
}

// TestFixedAnswerAfterTheBoundary is the failure the boundary benchmark
// found: an answer carrying the old minute's usage arrives just after the
// boundary. It belongs to the minute the server counted it in (its Date);
// the new minute keeps its whole budget.
func TestFixedAnswerAfterTheBoundary(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 6000, Window: time.Minute, Burst: 6000})
	acquire(t, ctx, l, priority.Low, 5800).Finish(at(clock.Now(), 5800))

	clock.Advance(59*time.Second + 500*time.Millisecond)
	late := acquire(t, ctx, l, priority.Low, 150) // sent at 0:59.5
	clock.Advance(time.Second)
	require.Equal(t, 150.0, l.Used(), "in flight at the boundary: it may count in the new minute")
	late.Finish(at(epoch.Add(59*time.Second), 5950))
	require.Zero(t, l.Used(), "it counted in the old minute")

	quick, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	acquire(t, quick, l, priority.Low, 5900).Finish(at(clock.Now(), 5900))
	require.Equal(t, 5900.0, l.Used())
}

// TestFixedInFlightAtTheBoundary: requests in flight across the boundary
// count in the new minute until the server's count shows where they were
// counted. Their answers are uncertain (sent in the old minute, stamped in
// the new), so the first certain report settles them.
func TestFixedInFlightAtTheBoundary(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 100, Window: time.Minute, Burst: 100})
	clock.Advance(59 * time.Second)
	a := acquire(t, ctx, l, priority.Medium, 10)
	b := acquire(t, ctx, l, priority.Medium, 20)
	clock.Advance(2 * time.Second)
	require.Equal(t, 30.0, l.Used())

	a.Finish(at(epoch.Add(61*time.Second), 10))
	require.Equal(t, 30.0, l.Used(), "a counted in this minute or the last; b may yet count here")
	c := acquire(t, ctx, l, priority.Medium, 5)
	require.Equal(t, 35.0, l.Used())
	b.Finish(at(epoch.Add(61*time.Second), 30))
	require.Equal(t, 35.0, l.Used())
	// c was sent in the new minute: its report is certain. The server
	// counted 45: a, b, c and 10 from another client on the IP.
	c.Finish(at(epoch.Add(61*time.Second), 45))
	require.Equal(t, 45.0, l.Used())
}

// TestFixedFollowsTheServersClock: the windows are the server's, whose
// clock here runs 17.4 s ahead of ours. Its minute ends at our 0:42.6; the
// Date headers (whole seconds) bound that from above, and the limiter
// waits for the bound, never for our own minute's end.
func TestFixedFollowsTheServersClock(t *testing.T) {
	ctx := testCtx(t)
	const offset = 17400 * time.Millisecond
	l, clock := newTestLimiter(t, Options{Limit: 10, Window: time.Minute, Burst: 10})
	server := func() Report { return Report{Date: clock.Now().Add(offset).Truncate(time.Second)} }
	// Answers at three sub-second phases narrow the offset to [17.3s, 17.5s].
	for _, step := range []time.Duration{0, 700 * time.Millisecond, 800 * time.Millisecond} {
		clock.Advance(step)
		acquire(t, ctx, l, priority.Low, 1).Finish(server())
	}
	for l.Used() < 10 {
		acquire(t, ctx, l, priority.Low, 1).Finish(server())
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	next := waitAsync(ctx, &wg, l, priority.Critical, 1)
	waitQueued(t, l, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(epoch.Add(42500 * time.Millisecond).Sub(clock.Now()))
	require.Equal(t, 1, l.Waiting(), "the server's minute has not ended at our 0:42.5")
	// The estimate's lower bound, 17.3 s less the drift allowance since the
	// last answer (about 4 ms), puts the end just after our 0:42.7.
	clock.Advance(210 * time.Millisecond)
	require.NoError(t, recv(t, ctx, next), "the server's minute ended at our 0:42.6")
}

// TestReserveIsLeftToHighAndCritical: Low and Medium stop short of the
// reserve; High and Critical use it; half a second before the window
// ends, Low gets the rest.
func TestReserveIsLeftToHighAndCritical(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 100, Window: time.Minute, Burst: 100, Reserve: 0.1, AgingStep: -1})
	require.NoError(t, l.Wait(priority.With(ctx, priority.Low), 90))

	var wg sync.WaitGroup
	defer wg.Wait()
	low := waitAsync(ctx, &wg, l, priority.Low, 5)
	medium := waitAsync(ctx, &wg, l, priority.Medium, 1)
	waitQueued(t, l, 2)
	require.NoError(t, l.Wait(priority.With(ctx, priority.Critical), 4), "critical passes the waiting low")
	require.NoError(t, l.Wait(priority.With(ctx, priority.High), 4))
	require.Equal(t, 98.0, l.Used())
	require.Equal(t, 2, l.Waiting())

	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(59*time.Second + 499*time.Millisecond)
	require.Equal(t, 2, l.Waiting())
	clock.Advance(time.Millisecond) // 0:59.5: the reserve is released
	require.NoError(t, recv(t, ctx, medium))
	require.Equal(t, 1, l.Waiting(), "5 more do not fit the window at all")
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(500 * time.Millisecond)
	require.NoError(t, recv(t, ctx, low))
}

// TestAgedLowDoesNotHoldBackCritical: a Low request that has waited long
// enough to rank as Critical still may not take the reserve, and while it
// waits for it, a real Critical one goes.
func TestAgedLowDoesNotHoldBackCritical(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 100, Window: time.Minute, Burst: 100, Reserve: 0.1, AgingStep: time.Second})
	require.NoError(t, l.Wait(priority.With(ctx, priority.Low), 90))
	var wg sync.WaitGroup
	defer wg.Wait()
	low := waitAsync(ctx, &wg, l, priority.Low, 1)
	waitQueued(t, l, 1)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))
	clock.Advance(10 * time.Second) // aged to Critical
	require.Equal(t, 1, l.Waiting())
	require.NoError(t, l.Wait(priority.With(ctx, priority.Critical), 5))
	require.Equal(t, 1, l.Waiting())
	clock.Advance(time.Minute)
	require.NoError(t, recv(t, ctx, low))
}

// TestSlidingCountsUntilAWindowAfterTheAnswer: a request leaves a rolling
// window a window after its answer, and counts while in flight however
// long that takes.
func TestSlidingCountsUntilAWindowAfterTheAnswer(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Kind: Sliding, Limit: 3, Window: time.Second, Burst: 3})
	tks := []*Ticket{acquire(t, ctx, l, priority.Low, 1), acquire(t, ctx, l, priority.Low, 1), acquire(t, ctx, l, priority.Low, 1)}
	require.Nil(t, l.tryNow(priority.Critical, 1), "full")
	clock.Advance(5 * time.Second)
	require.Nil(t, l.tryNow(priority.Critical, 1), "in flight, still counted")
	tks[0].Finish(Report{})
	clock.Advance(200 * time.Millisecond)
	tks[1].Finish(Report{})
	clock.Advance(799 * time.Millisecond)
	require.Nil(t, l.tryNow(priority.Critical, 1), "the first answer leaves the window at +1s")
	clock.Advance(time.Millisecond)
	require.NotNil(t, l.tryNow(priority.Critical, 1))
	require.Nil(t, l.tryNow(priority.Critical, 1))
	clock.Advance(200 * time.Millisecond)
	require.NotNil(t, l.tryNow(priority.Critical, 1))
	tks[2].Finish(Report{})
}

// TestBucketTakesTokensAtTheAnswer: a token bucket takes a request's
// tokens when its answer arrives (the latest the server can have taken
// them), holding them aside meanwhile.
func TestBucketTakesTokensAtTheAnswer(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Kind: Bucket, Limit: 10, Window: time.Second, Burst: 10})
	var tks []*Ticket
	for range 10 {
		tks = append(tks, acquire(t, ctx, l, priority.Low, 1))
	}
	clock.Advance(time.Second)
	require.Nil(t, l.tryNow(priority.Critical, 1), "held by requests in flight")
	for _, tk := range tks {
		tk.Finish(Report{})
	}
	require.Nil(t, l.tryNow(priority.Critical, 1), "taken at the answer: the bucket is empty now")
	clock.Advance(100 * time.Millisecond)
	require.NotNil(t, l.tryNow(priority.Critical, 1))
	require.Nil(t, l.tryNow(priority.Critical, 1))
}

// served is one request as the simulated server saw it.
type served struct {
	cost           int
	counted, reply time.Time
	ticket         *Ticket
}

// simulate drives limiters sharing a server's budget for a while on the
// fake clock: each tries to send a request of random cost every step, the
// server counts each at a random instant between grant and answer, and
// the answers report the server's Date (and, for Fixed, its usage). It
// returns what the server counted, in counting order.
func simulate(t *testing.T, clock *clockwork.FakeClock, kind Kind, window time.Duration, limiters []*Limiter, steps int, seed uint64) []served {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 7))
	var all, pending []*served
	step := window / 50
	for range steps {
		clock.Advance(step)
		now := clock.Now()
		// Answers due by now, in order of arrival.
		sort.Slice(pending, func(i, j int) bool { return pending[i].reply.Before(pending[j].reply) })
		for len(pending) > 0 && !pending[0].reply.After(now) {
			s := pending[0]
			pending = pending[1:]
			rep := Report{Date: s.counted.Truncate(time.Second)}
			if kind == Fixed {
				used := 0
				for _, o := range all {
					if !o.counted.After(s.counted) && o.counted.UnixNano()/int64(window) == s.counted.UnixNano()/int64(window) {
						used += o.cost
					}
				}
				rep.Used, rep.HasUsed = float64(used), true
			}
			s.ticket.Finish(rep)
		}
		for _, l := range limiters {
			for range 3 {
				cost := 1 + rnd.IntN(4)
				tk := l.tryNow(priority.Priority(rnd.IntN(4)), cost)
				if tk == nil {
					break
				}
				counted := now.Add(time.Duration(rnd.Int64N(int64(3 * step))))
				s := &served{cost: cost, counted: counted, reply: counted.Add(time.Duration(rnd.Int64N(int64(3 * step)))), ticket: tk}
				all, pending = append(all, s), append(pending, s)
			}
		}
	}
	for _, s := range pending {
		s.ticket.Finish(Report{})
	}
	out := make([]served, len(all))
	for i, s := range all {
		out[i] = *s
	}
	sort.Slice(out, func(i, j int) bool { return out[i].counted.Before(out[j].counted) })
	return out
}

// overLimit returns the worst excess of the server's count over limit, by
// the kind's own rule: per calendar window, per rolling window, or the
// bucket's deficit.
func overLimit(kind Kind, limit float64, burst int, window time.Duration, all []served) float64 {
	worst := 0.0
	switch kind {
	case Fixed:
		per := map[int64]float64{}
		for _, s := range all {
			per[s.counted.UnixNano()/int64(window)] += float64(s.cost)
		}
		for _, u := range per {
			worst = max(worst, u-limit)
		}
	case Sliding:
		for i, s := range all {
			sum := 0.0
			for _, o := range all[:i+1] {
				if o.counted.After(s.counted.Add(-window)) {
					sum += float64(o.cost)
				}
			}
			worst = max(worst, sum-limit)
		}
	case Bucket:
		level, rate := float64(burst), limit/window.Seconds()
		var last time.Time
		for i, s := range all {
			if i > 0 {
				level = min(float64(burst), level+rate*s.counted.Sub(last).Seconds())
			}
			last = s.counted
			level -= float64(s.cost)
			worst = max(worst, -level)
		}
	}
	return worst
}

func usedShare(limit float64, window time.Duration, all []served) float64 {
	if len(all) == 0 {
		return 0
	}
	total := 0
	for _, s := range all {
		total += s.cost
	}
	span := all[len(all)-1].counted.Sub(all[0].counted)
	return float64(total) / (limit * span.Seconds() / window.Seconds())
}

// TestPeersTogetherStayWithinTheLimit (issue 12): two processes without
// shared state that know of each other (SetPeers(2)) never exceed the
// exchange's limit together, for every kind of window; without knowing of
// each other, they do.
func TestPeersTogetherStayWithinTheLimit(t *testing.T) {
	const limit, window = 40.0, 10 * time.Second
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			for _, peers := range []int{2, 1} {
				clock := clockwork.NewFakeClockAt(epoch)
				var ls []*Limiter
				for range 2 {
					l, _ := newTestLimiter(t, Options{Kind: kind, Limit: limit, Window: window, Burst: 8, Reserve: 0.1, Clock: clock})
					l.SetPeers(peers)
					ls = append(ls, l)
				}
				all := simulate(t, clock, kind, window, ls, 2000, 42)
				over := overLimit(kind, limit, 8, window, all)
				if peers == 2 {
					require.Zero(t, over, "together within the limit")
					t.Logf("share %.3f", usedShare(limit, window, all))
					require.Greater(t, usedShare(limit, window, all), 0.75, "and using most of it")
				} else {
					require.Positive(t, over, "two processes each taking the whole budget exceed it")
				}
			}
		})
	}
}

// TestOneProcessStaysWithinTheLimit: the same traffic from one process,
// with answers arriving late and out of order, never exceeds the limit and
// uses nearly all of it.
func TestOneProcessStaysWithinTheLimit(t *testing.T) {
	const limit, window = 40.0, 10 * time.Second
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(epoch)
			l, _ := newTestLimiter(t, Options{Kind: kind, Limit: limit, Window: window, Burst: 8, Reserve: 0.1, Clock: clock})
			all := simulate(t, clock, kind, window, []*Limiter{l}, 2000, 7)
			require.Zero(t, overLimit(kind, limit, 8, window, all))
			t.Logf("share %.3f", usedShare(limit, window, all))
			require.Greater(t, usedShare(limit, window, all), 0.85)
		})
	}
}

// TestPacingKeepsTheReserveForCritical: the pacing bucket keeps the same
// share back from Low and Medium, so a critical request finds tokens at
// once while a backfill keeps the bucket drained.
func TestPacingKeepsTheReserveForCritical(t *testing.T) {
	ctx := testCtx(t)
	l, clock := newTestLimiter(t, Options{Limit: 6000, Window: time.Minute, Burst: 300, Reserve: 0.05, AgingStep: -1})
	require.NoError(t, l.Wait(priority.With(ctx, priority.Low), 285)) // 15 of 300 tokens left
	require.Nil(t, l.tryNow(priority.Low, 1), "the last 15 tokens are reserved")
	require.Nil(t, l.tryNow(priority.Medium, 1))
	require.NotNil(t, l.tryNow(priority.Critical, 10))
	require.NotNil(t, l.tryNow(priority.High, 5))
	require.Nil(t, l.tryNow(priority.Critical, 1), "the bucket is empty")
	clock.Advance(160 * time.Millisecond) // 16 tokens: one more than the reserve
	require.NotNil(t, l.tryNow(priority.Low, 1))
	require.Nil(t, l.tryNow(priority.Low, 1))
}

// TestHoldLocal: a process joining an egress grants nothing from its local
// share for a while; with the shared state in use the hold does not apply.
func TestHoldLocal(t *testing.T) {
	l, clock := newTestLimiter(t, Options{Limit: 100, Window: time.Minute, Burst: 100})
	l.SetPeers(2)
	l.HoldLocal(2 * time.Second)
	require.Nil(t, l.tryNow(priority.Critical, 1))
	clock.Advance(2 * time.Second)
	require.NotNil(t, l.tryNow(priority.Low, 1))
}

// TestReleaseLocal: a process that learns it sends alone stops holding at
// once rather than when the hold would have ended.
func TestReleaseLocal(t *testing.T) {
	l, _ := newTestLimiter(t, Options{Limit: 100, Window: time.Minute, Burst: 100})
	l.HoldLocal(3 * time.Second)
	require.Nil(t, l.tryNow(priority.Critical, 1))
	l.ReleaseLocal()
	require.NotNil(t, l.tryNow(priority.Low, 1))
}
