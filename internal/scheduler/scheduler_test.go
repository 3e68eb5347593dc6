package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/scheduler"
	"github.com/mdingest/mdingest/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	wait = 10 * time.Second
	poll = 5 * time.Millisecond
)

// recorder is a Hook keeping every run.
type recorder struct {
	mu   sync.Mutex
	runs []scheduler.Run
}

func (r *recorder) JobRan(_ context.Context, run scheduler.Run) {
	r.mu.Lock()
	r.runs = append(r.runs, run)
	r.mu.Unlock()
}

func (r *recorder) of(job string) []scheduler.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []scheduler.Run
	for _, run := range r.runs {
		if run.Job == job {
			out = append(out, run)
		}
	}
	return out
}

func (r *recorder) count(job string, o scheduler.Outcome) int {
	n := 0
	for _, run := range r.of(job) {
		if run.Outcome == o {
			n++
		}
	}
	return n
}

func intervals(d time.Duration) scheduler.Intervals {
	return scheduler.Intervals{Realtime: d, High: d, Medium: d, Low: d, Daily: d}
}

// start runs s until the test ends, and checks Run returned cleanly.
func start(t *testing.T, s *scheduler.Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(wait):
				t.Fatal("scheduler did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newScheduler(t *testing.T, opts scheduler.Options, jobs ...scheduler.Job) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(opts)
	require.NoError(t, err)
	for _, j := range jobs {
		require.NoError(t, s.Add(j))
	}
	return s
}

func TestRunsOnInterval(t *testing.T) {
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	var prio atomic.Int64
	s := newScheduler(t, scheduler.Options{Intervals: intervals(20 * time.Millisecond), Hook: rec, Registerer: reg},
		scheduler.Job{Name: "tickers/x", Exchange: "x", Tier: scheduler.Realtime, Run: func(ctx context.Context) (int64, error) {
			prio.Store(int64(priority.From(ctx)))
			return 3, nil
		}})
	start(t, s)
	require.Eventually(t, func() bool { return rec.count("tickers/x", scheduler.OK) >= 4 }, wait, poll)

	run := rec.of("tickers/x")[0]
	require.Equal(t, int64(3), run.Rows)
	require.Equal(t, "x", run.Exchange)
	require.NoError(t, run.Err)
	require.False(t, run.Finished.Before(run.Started))
	require.Equal(t, int64(priority.Critical), prio.Load())

	st := s.Status()
	require.Len(t, st, 1)
	require.Equal(t, "tickers/x", st[0].Name)
	require.GreaterOrEqual(t, st[0].Runs, int64(4))
	require.False(t, st[0].LastSuccess.IsZero())
	require.Equal(t, 1, st[0].BackoffEvery)
	require.Contains(t, s.LastSuccessByExchange(), "x")

	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	require.True(t, names["scheduler_job_runs_total"], "have %v", names)
}

func TestTierPriority(t *testing.T) {
	for tier, want := range map[scheduler.Tier]priority.Priority{
		scheduler.Realtime: priority.Critical, scheduler.High: priority.High, scheduler.Medium: priority.Medium,
		scheduler.Low: priority.Low, scheduler.Daily: priority.Low,
	} {
		require.Equal(t, want, tier.Priority(), tier)
		got, err := scheduler.ParseTier(string(tier))
		require.NoError(t, err)
		require.Equal(t, tier, got)
	}
	_, err := scheduler.ParseTier("hourly")
	require.ErrorIs(t, err, scheduler.ErrInvalidJob)
}

// blocker is a job body that runs until released, counting its starts and
// the most runs in progress at once.
type blocker struct {
	release                  chan struct{}
	starts, running, maxRuns atomic.Int64
}

func newBlocker() *blocker { return &blocker{release: make(chan struct{})} }

func (b *blocker) run(ctx context.Context) (int64, error) {
	b.starts.Add(1)
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		m := b.maxRuns.Load()
		if n <= m || b.maxRuns.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return 0, nil
}

func TestSingleton(t *testing.T) {
	rec := &recorder{}
	slow := newBlocker()
	s := newScheduler(t, scheduler.Options{Intervals: intervals(10 * time.Millisecond), Hook: rec},
		scheduler.Job{Name: "slow", Tier: scheduler.High, Run: slow.run},
		scheduler.Job{Name: "clock", Tier: scheduler.High, Run: func(context.Context) (int64, error) { return 0, nil }},
	)
	start(t, s)
	// Many ticks pass while the slow job is still in its first run.
	require.Eventually(t, func() bool { return rec.count("clock", scheduler.OK) >= 8 }, wait, poll)
	require.Equal(t, int64(1), slow.starts.Load())
	close(slow.release)
	require.Eventually(t, func() bool { return rec.count("slow", scheduler.OK) >= 3 }, wait, poll)
	require.Equal(t, int64(1), slow.maxRuns.Load())
}

func TestDependencyGate(t *testing.T) {
	rec := &recorder{}
	var marketsOK atomic.Bool
	var mu sync.Mutex
	var events []string
	event := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	s := newScheduler(t, scheduler.Options{Intervals: intervals(10 * time.Millisecond), Hook: rec},
		scheduler.Job{Name: "tickers", Tier: scheduler.Realtime, After: []string{"markets"}, Run: func(context.Context) (int64, error) {
			event("tickers")
			return 1, nil
		}},
		scheduler.Job{Name: "markets", Tier: scheduler.Daily, Run: func(context.Context) (int64, error) {
			if !marketsOK.Load() {
				return 0, errors.New("exchange down")
			}
			event("markets ok")
			return 10, nil
		}},
	)
	start(t, s)
	require.Eventually(t, func() bool { return rec.count("tickers", scheduler.Skipped) >= 3 }, wait, poll)
	for _, r := range rec.of("tickers") {
		require.ErrorIs(t, r.Err, scheduler.ErrWaitingForDependency)
	}
	require.True(t, s.Status()[0].Waiting)
	mu.Lock()
	require.Empty(t, events)
	mu.Unlock()

	marketsOK.Store(true)
	require.Eventually(t, func() bool { return rec.count("tickers", scheduler.OK) >= 2 }, wait, poll)
	mu.Lock()
	require.Equal(t, "markets ok", events[0])
	mu.Unlock()
	require.False(t, s.Status()[0].Waiting)
}

func TestBackoffAndRecovery(t *testing.T) {
	rec := &recorder{}
	var healthy atomic.Bool
	s := newScheduler(t, scheduler.Options{Intervals: intervals(5 * time.Millisecond), Hook: rec, FailureThreshold: 2, MaxBackoffShift: 3},
		scheduler.Job{Name: "flaky", Tier: scheduler.High, Run: func(context.Context) (int64, error) {
			if !healthy.Load() {
				return 0, errors.New("boom")
			}
			return 1, nil
		}})
	start(t, s)
	const E, S, O = scheduler.Error, scheduler.Skipped, scheduler.OK
	// Two failures reach the threshold; then attempts are 2, 4, 8, 8 ticks
	// apart (capped at 2^3).
	want := []scheduler.Outcome{E, E, S, E, S, S, S, E, S, S, S, S, S, S, S, E, S, S, S, S, S, S, S, E}
	require.Eventually(t, func() bool { return len(rec.of("flaky")) >= len(want) }, wait, poll)
	var got []scheduler.Outcome
	for _, r := range rec.of("flaky")[:len(want)] {
		got = append(got, r.Outcome)
		if r.Outcome == S {
			require.ErrorIs(t, r.Err, scheduler.ErrBackoff)
		}
	}
	require.Equal(t, want, got)
	require.Equal(t, 8, s.Status()[0].BackoffEvery)

	healthy.Store(true)
	// After one success, every tick runs again.
	require.Eventually(t, func() bool {
		runs := rec.of("flaky")
		if len(runs) < 3 {
			return false
		}
		for _, r := range runs[len(runs)-3:] {
			if r.Outcome != O {
				return false
			}
		}
		return true
	}, wait, poll)
	st := s.Status()[0]
	require.Equal(t, 0, st.ConsecutiveFailures)
	require.Equal(t, 1, st.BackoffEvery)
}

func TestPerExchangeConcurrency(t *testing.T) {
	rec := &recorder{}
	slow := newBlocker() // one body for the four jobs of the slow exchange
	opts := scheduler.Options{Intervals: intervals(10 * time.Millisecond), Hook: rec,
		Concurrency: map[string]int{"slow": 1}, DefaultConcurrency: 2}
	var jobs []scheduler.Job
	for i := range 4 {
		jobs = append(jobs, scheduler.Job{Name: fmt.Sprintf("slow-%d", i), Exchange: "slow", Tier: scheduler.High, Run: slow.run})
	}
	jobs = append(jobs, scheduler.Job{Name: "fast", Exchange: "fast", Tier: scheduler.High,
		Run: func(context.Context) (int64, error) { return 0, nil }})
	s := newScheduler(t, opts, jobs...)
	start(t, s)
	// The slow exchange's slot is taken and kept; the other exchange runs on.
	require.Eventually(t, func() bool { return rec.count("fast", scheduler.OK) >= 8 }, wait, poll)
	require.Equal(t, int64(1), slow.starts.Load())
	close(slow.release)
	require.Eventually(t, func() bool {
		for i := range 4 {
			if rec.count(fmt.Sprintf("slow-%d", i), scheduler.OK) == 0 {
				return false
			}
		}
		return true
	}, wait, poll)
	require.Equal(t, int64(1), slow.maxRuns.Load())
}

func TestPanicIsAnError(t *testing.T) {
	rec := &recorder{}
	s := newScheduler(t, scheduler.Options{Intervals: intervals(10 * time.Millisecond), Hook: rec},
		scheduler.Job{Name: "bad", Tier: scheduler.Low, Run: func(context.Context) (int64, error) { panic("nil map") }})
	start(t, s)
	require.Eventually(t, func() bool { return rec.count("bad", scheduler.Error) >= 2 }, wait, poll)
	require.ErrorIs(t, rec.of("bad")[0].Err, scheduler.ErrPanic)
}

func TestStopCancelsJobsAfterGrace(t *testing.T) {
	rec := &recorder{}
	started := make(chan struct{})
	var once sync.Once
	s := newScheduler(t, scheduler.Options{Intervals: intervals(time.Hour), Hook: rec, StopGrace: 20 * time.Millisecond},
		scheduler.Job{Name: "stuck", Tier: scheduler.Daily, Run: func(ctx context.Context) (int64, error) {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return 0, ctx.Err()
		}})
	stop := start(t, s)
	<-started
	stop()
	runs := rec.of("stuck")
	require.Len(t, runs, 1)
	require.ErrorIs(t, runs[0].Err, context.Canceled)
}

func TestInvalidJobs(t *testing.T) {
	ok := func(context.Context) (int64, error) { return 0, nil }
	iv := intervals(time.Second)
	for _, tc := range []struct {
		name string
		opts scheduler.Options
		jobs []scheduler.Job
		want error
	}{
		{"no name", scheduler.Options{Intervals: iv}, []scheduler.Job{{Tier: scheduler.Low, Run: ok}}, scheduler.ErrInvalidJob},
		{"no func", scheduler.Options{Intervals: iv}, []scheduler.Job{{Name: "a", Tier: scheduler.Low}}, scheduler.ErrInvalidJob},
		{"bad tier", scheduler.Options{Intervals: iv}, []scheduler.Job{{Name: "a", Tier: "weekly", Run: ok}}, scheduler.ErrInvalidJob},
		{"no interval", scheduler.Options{}, []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok}}, scheduler.ErrInvalidJob},
		{"duplicate", scheduler.Options{Intervals: iv}, []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok}, {Name: "a", Tier: scheduler.Low, Run: ok}}, scheduler.ErrDuplicateJob},
		{"retry of a locked job", scheduler.Options{Intervals: iv}, []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok, Retry: scheduler.Retry{Initial: time.Second}}}, scheduler.ErrInvalidJob},
		{"negative retry", scheduler.Options{Intervals: iv}, []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok, Local: true, Retry: scheduler.Retry{Initial: -1}}}, scheduler.ErrInvalidJob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := scheduler.New(tc.opts)
			require.NoError(t, err)
			for _, j := range tc.jobs[:len(tc.jobs)-1] {
				require.NoError(t, s.Add(j))
			}
			require.ErrorIs(t, s.Add(tc.jobs[len(tc.jobs)-1]), tc.want)
		})
	}
	for _, tc := range []struct {
		name string
		jobs []scheduler.Job
	}{
		{"unknown dependency", []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok, After: []string{"nope"}}}},
		{"cycle", []scheduler.Job{{Name: "a", Tier: scheduler.Low, Run: ok, After: []string{"b"}}, {Name: "b", Tier: scheduler.Low, Run: ok, After: []string{"a"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScheduler(t, scheduler.Options{Intervals: iv}, tc.jobs...)
			require.ErrorIs(t, s.Run(context.Background()), scheduler.ErrUnknownDependency)
		})
	}
	_, err := scheduler.New(scheduler.Options{Concurrency: map[string]int{"x": 0}})
	require.ErrorIs(t, err, scheduler.ErrInvalidJob)
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Two instances sharing Redis run a job once per tick between them.
func TestDistributedOncePerTick(t *testing.T) {
	url := pgtest.RequireRedis(t)
	prefix := fmt.Sprintf("mdingest-test:%s:%d:", t.Name(), time.Now().UnixNano())
	const iv = 100 * time.Millisecond
	rec := &recorder{}
	job := func(context.Context) (int64, error) { return 1, nil }
	var stops []func()
	for range 2 {
		s := newScheduler(t, scheduler.Options{Intervals: intervals(iv), Hook: rec, Redis: redisClient(t, url), LockPrefix: prefix},
			scheduler.Job{Name: "tickers/x", Exchange: "x", Tier: scheduler.Realtime, Run: job})
		stops = append(stops, start(t, s))
	}
	require.Eventually(t, func() bool { return rec.count("tickers/x", scheduler.OK) >= 12 }, wait, poll)
	for _, stop := range stops {
		stop()
	}

	// Run.Tick is the tick in which the job function started; between
	// them the instances covered (nearly) every tick.
	oncePerTick(t, rec.of("tickers/x"), iv)
}

// oncePerTick checks that no tick of job ran twice and that the runs cover
// (nearly) every tick between the first and the last.
func oncePerTick(t *testing.T, runs []scheduler.Run, iv time.Duration) {
	t.Helper()
	ticks := map[int64]int{}
	first, last := runs[0].Tick, runs[0].Tick
	for _, r := range runs {
		require.Equal(t, scheduler.OK, r.Outcome)
		ticks[r.Tick.UnixMilli()]++
		if r.Tick.Before(first) {
			first = r.Tick
		}
		if r.Tick.After(last) {
			last = r.Tick
		}
	}
	for tick, n := range ticks {
		require.Equal(t, 1, n, "tick %d ran %d times", tick, n)
	}
	span := int(last.Sub(first)/iv) + 1
	require.GreaterOrEqual(t, len(runs), span-2, "runs %d over %d ticks", len(runs), span)
}

// With Redis down (or not configured), instances sharing the database
// still run a job once per tick: its advisory locks take the tick.
func TestDatabaseLocksOncePerTickWithoutRedis(t *testing.T) {
	dbURL := pgtest.NewDB(t)
	for _, withRedis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis configured but down: %v", withRedis), func(t *testing.T) {
			const iv = 100 * time.Millisecond
			rec := &recorder{}
			reg := prometheus.NewRegistry()
			var stops []func()
			prefix := fmt.Sprintf("%s:%d:", t.Name(), time.Now().UnixNano())
			for i := range 2 {
				st, err := store.Open(context.Background(), dbURL, store.Options{})
				require.NoError(t, err)
				t.Cleanup(st.Close)
				locks := store.NewTickLocks(st)
				t.Cleanup(locks.Close)
				opts := scheduler.Options{Intervals: intervals(iv), Hook: rec, Lockers: []scheduler.TickLocker{locks},
					LockPrefix: prefix}
				if i == 0 {
					opts.Registerer = reg
				}
				if withRedis {
					rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
					t.Cleanup(func() { _ = rdb.Close() })
					opts.Redis = rdb
				}
				s := newScheduler(t, opts, scheduler.Job{Name: "tickers/x", Exchange: "x", Tier: scheduler.Realtime,
					Run: func(context.Context) (int64, error) { return 1, nil }})
				stops = append(stops, start(t, s))
			}
			require.Eventually(t, func() bool { return rec.count("tickers/x", scheduler.OK) >= 12 }, wait, poll)
			for _, stop := range stops {
				stop()
			}
			oncePerTick(t, rec.of("tickers/x"), iv)
		})
	}
}

// Without a reachable Redis, each instance still runs its jobs.
func TestLockUnavailableRunsLocally(t *testing.T) {
	rec := &recorder{}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	s := newScheduler(t, scheduler.Options{Intervals: intervals(20 * time.Millisecond), Hook: rec, Redis: rdb},
		scheduler.Job{Name: "j", Tier: scheduler.High, Run: func(context.Context) (int64, error) { return 1, nil }})
	start(t, s)
	require.Eventually(t, func() bool { return rec.count("j", scheduler.OK) >= 3 }, wait, poll)
}

// Local jobs ignore the lock: both instances run them.
func TestLocalJobRunsEverywhere(t *testing.T) {
	url := pgtest.RequireRedis(t)
	prefix := fmt.Sprintf("mdingest-test:%s:%d:", t.Name(), time.Now().UnixNano())
	var a, b atomic.Int64
	for _, n := range []*atomic.Int64{&a, &b} {
		s := newScheduler(t, scheduler.Options{Intervals: intervals(time.Hour), Redis: redisClient(t, url), LockPrefix: prefix},
			scheduler.Job{Name: "markets/x", Tier: scheduler.Daily, Local: true, Run: func(context.Context) (int64, error) {
				n.Add(1)
				return 1, nil
			}})
		start(t, s)
	}
	require.Eventually(t, func() bool { return a.Load() == 1 && b.Load() == 1 }, wait, poll)
}

// TestStatusWhileStarting reads Status while Run links the jobs' dependencies:
// a /status request can come at any time, also during start-up. Under -race
// this caught link writing the dependencies unlocked.
func TestStatusWhileStarting(t *testing.T) {
	for range 5 {
		rec := &recorder{}
		gate := make(chan struct{})
		jobs := []scheduler.Job{{Name: "markets", Tier: scheduler.Low, Run: func(ctx context.Context) (int64, error) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
			return 1, nil
		}}}
		for i := range 50 {
			jobs = append(jobs, scheduler.Job{Name: fmt.Sprintf("tickers/%d", i), Tier: scheduler.Realtime, After: []string{"markets"},
				Run: func(context.Context) (int64, error) { return 1, nil }})
		}
		s := newScheduler(t, scheduler.Options{Intervals: intervals(time.Hour), Hook: rec}, jobs...)
		polled := make(chan []scheduler.JobStatus)
		done := make(chan struct{})
		go func() {
			defer close(polled)
			var last []scheduler.JobStatus
			for {
				select {
				case <-done:
					polled <- last
					return
				default:
					last = s.Status()
				}
			}
		}()
		stop := start(t, s)
		// Dependents wait for markets, which waits for the gate.
		require.Eventually(t, func() bool { return s.Status()[1].Waiting }, wait, poll)
		close(gate)
		require.Eventually(t, func() bool { return rec.count("tickers/49", scheduler.OK) == 1 }, wait, poll)
		close(done)
		last := <-polled
		require.Len(t, last, 51)
		stop()
	}
}

// TestRetryUntilFirstSuccess fails a local job's first runs: it is retried
// at once, past the failure backoff, and its dependents start without
// waiting for its next tick, an hour away.
func TestRetryUntilFirstSuccess(t *testing.T) {
	rec := &recorder{}
	var attempts atomic.Int64
	retried := make(chan struct{})
	s := newScheduler(t, scheduler.Options{Intervals: intervals(time.Hour), Hook: rec, FailureThreshold: 2},
		scheduler.Job{Name: "markets", Tier: scheduler.Low, Local: true, Retry: scheduler.Retry{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond},
			Run: func(ctx context.Context) (int64, error) {
				switch attempts.Add(1) {
				case 1, 2, 3:
					return 0, errors.New("exchange down")
				case 4:
					select { // until the test has seen the failures
					case <-retried:
					case <-ctx.Done():
					}
				}
				return 1, nil
			}},
		scheduler.Job{Name: "tickers", Tier: scheduler.High, After: []string{"markets"}, Run: func(context.Context) (int64, error) { return 1, nil }},
	)
	start(t, s)
	require.False(t, s.Succeeded("markets"))
	require.Eventually(t, func() bool { return attempts.Load() == 4 }, wait, poll)
	st := s.Status()
	require.Equal(t, 3, st[0].ConsecutiveFailures)
	require.True(t, st[1].Waiting)
	close(retried)
	require.Eventually(t, func() bool { return rec.count("tickers", scheduler.OK) == 1 }, wait, poll)
	require.True(t, s.Succeeded("markets"))
	require.Equal(t, 3, rec.count("markets", scheduler.Error))
	require.Equal(t, 1, rec.count("markets", scheduler.OK))
	require.Zero(t, rec.count("markets", scheduler.Skipped), "retries skip the backoff")
	st = s.Status()
	require.Zero(t, st[0].RetryAt)
	require.False(t, s.Succeeded("nonesuch"))
}

// TestRetryShownWhilePending: Status names the pending retry.
func TestRetryShownWhilePending(t *testing.T) {
	s := newScheduler(t, scheduler.Options{Intervals: intervals(time.Hour)},
		scheduler.Job{Name: "markets", Tier: scheduler.Low, Local: true, Retry: scheduler.Retry{Initial: time.Hour},
			Run: func(context.Context) (int64, error) { return 0, errors.New("exchange down") }})
	start(t, s)
	require.Eventually(t, func() bool { return !s.Status()[0].RetryAt.IsZero() }, wait, poll)
	st := s.Status()[0]
	require.Equal(t, "exchange down", st.LastError)
	require.WithinRange(t, st.RetryAt, st.LastFinished.Add(time.Hour-time.Second), st.LastFinished.Add(time.Hour+time.Second))
}
