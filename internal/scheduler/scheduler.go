// Package scheduler runs the daemon's jobs on gocron: one interval per tier,
// never two runs of a job at once, a start gate on other jobs' first
// success, a concurrency limit per exchange, progressive backoff after
// repeated failures, and at most one run per job and tick across all
// instances that share Redis or the database (lock.go). A hook sees every run (the daemon writes
// ops.job_runs from it); Status keeps the last outcome and success per job.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/semaphore"

	"github.com/mdingest/mdingest/internal/priority"
)

// Errors.
var (
	ErrInvalidJob        = errors.New("invalid job")
	ErrDuplicateJob      = errors.New("duplicate job name")
	ErrUnknownDependency = errors.New("unknown dependency")
	ErrStarted           = errors.New("scheduler already started")
	// ErrBackoff marks a tick skipped because the job failed too often in a row.
	ErrBackoff = errors.New("backing off after consecutive failures")
	// ErrWaitingForDependency marks a tick skipped because a job named in
	// After has not succeeded yet.
	ErrWaitingForDependency = errors.New("waiting for a dependency's first success")
	// ErrPanic wraps a panic recovered from a job function.
	ErrPanic = errors.New("job panicked")
)

// Func is a job's work. It returns the rows it handled (for ops.job_runs).
// ctx carries the tier's request priority and ends on shutdown.
type Func func(ctx context.Context) (rows int64, err error)

// Job describes one scheduled job.
type Job struct {
	// Name is unique, e.g. "tickers/binance"; it is also the lock key.
	Name string
	// Exchange limits the job by that exchange's concurrency; "" for none.
	Exchange string
	Tier     Tier
	Run      Func
	// After names jobs that must have succeeded once (in this process)
	// before this one starts, e.g. the markets refresh before tickers.
	After []string
	// Local jobs run in every instance, without the distributed lock: work
	// each process needs for itself, like loading its market list.
	Local bool
	// Retry, for Local jobs, retries failed runs until the first success.
	Retry Retry
}

// Retry retries a failed run after Initial, then twice as long each time
// up to Max, until the job first succeeds, whatever its tier's interval:
// the jobs waiting for it (After) must not wait for its next tick. The
// retries skip the failure backoff, and go through the exchange's
// semaphore as every run does. Zero Initial: no retries. Only Local jobs
// retry, as a non-local job's tick stays taken once it ran.
type Retry struct {
	Initial, Max time.Duration
}

// Outcome is how a run ended: the outcome column of ops.job_runs.
type Outcome string

// The outcomes.
const (
	OK      Outcome = "ok"
	Error   Outcome = "error"
	Skipped Outcome = "skipped"
)

// Run is one tick of a job, as the hook sees it.
type Run struct {
	Job      string
	Exchange string
	Tier     Tier
	Tick     time.Time // start of the tick window the run belongs to
	Started  time.Time
	Finished time.Time
	Outcome  Outcome
	Rows     int64
	Err      error // nil when OK; ErrBackoff or ErrWaitingForDependency when skipped
}

// Hook is told about every run, from the job's goroutine, so it must be
// safe for concurrent use and quick (queue the row, don't write it).
type Hook interface {
	JobRan(ctx context.Context, r Run)
}

// Options configure a Scheduler.
type Options struct {
	Intervals Intervals
	// Jitter delays each run by a random duration up to Jitter (at most a
	// quarter of the interval, so the run stays in its tick).
	Jitter time.Duration
	// FailureThreshold is the number of consecutive failures after which a
	// job backs off; 0 means 5.
	FailureThreshold int
	// MaxBackoffShift caps the backoff: at most every 2^MaxBackoffShift-th
	// tick runs; 0 means 6 (every 64th).
	MaxBackoffShift int
	// Concurrency limits the runs in flight per exchange;
	// DefaultConcurrency (0 means 4) for exchanges not listed.
	Concurrency        map[string]int
	DefaultConcurrency int
	// Redis, when set, makes each non-local job run once per tick across
	// all instances sharing it (the first TickLocker).
	Redis redis.UniversalClient
	// Lockers are further TickLockers asked for each tick, e.g. the
	// database's advisory locks, so that instances still run each job once
	// per tick while Redis is down or absent. With none at all, every
	// instance runs every job.
	Lockers []TickLocker
	// LockPrefix starts the lock keys; "mdingest:lock:" when empty.
	LockPrefix string
	// StopGrace is how long running jobs may go on after Run's context
	// ends before their context is cancelled; 0 means 10s.
	StopGrace  time.Duration
	Hook       Hook
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Scheduler runs jobs. Add jobs, then Run.
type Scheduler struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	jobs    []*jobState
	byName  map[string]*jobState
	started bool

	stopping atomic.Bool // no more retries
}

// New validates opts and returns a Scheduler without jobs.
func New(opts Options) (*Scheduler, error) {
	if opts.FailureThreshold == 0 {
		opts.FailureThreshold = 5
	}
	if opts.MaxBackoffShift == 0 {
		opts.MaxBackoffShift = 6
	}
	if opts.DefaultConcurrency == 0 {
		opts.DefaultConcurrency = 4
	}
	if opts.LockPrefix == "" {
		opts.LockPrefix = "mdingest:lock:"
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = 10 * time.Second
	}
	switch {
	case opts.FailureThreshold < 1:
		return nil, fmt.Errorf("%w: failure threshold %d < 1", ErrInvalidJob, opts.FailureThreshold)
	case opts.MaxBackoffShift < 1 || opts.MaxBackoffShift > 20:
		return nil, fmt.Errorf("%w: max backoff shift %d not in 1..20", ErrInvalidJob, opts.MaxBackoffShift)
	case opts.DefaultConcurrency < 1:
		return nil, fmt.Errorf("%w: default concurrency %d < 1", ErrInvalidJob, opts.DefaultConcurrency)
	case opts.Jitter < 0 || opts.StopGrace < 0:
		return nil, fmt.Errorf("%w: negative jitter or stop grace", ErrInvalidJob)
	}
	for ex, n := range opts.Concurrency {
		if n < 1 {
			return nil, fmt.Errorf("%w: concurrency of %s is %d < 1", ErrInvalidJob, ex, n)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Scheduler{opts: opts, logger: logger.With("component", "scheduler"), metrics: m, byName: map[string]*jobState{}}, nil
}

// Add registers a job. Dependencies may be added later; Run checks them.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" || j.Run == nil {
		return fmt.Errorf("%w: a job needs a name and a function", ErrInvalidJob)
	}
	if _, err := ParseTier(string(j.Tier)); err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	iv := s.opts.Intervals.Of(j.Tier)
	if iv <= 0 {
		return fmt.Errorf("%w: job %s: tier %s has no interval", ErrInvalidJob, j.Name, j.Tier)
	}
	switch r := j.Retry; {
	case r.Initial < 0 || r.Max < 0:
		return fmt.Errorf("%w: job %s: negative retry", ErrInvalidJob, j.Name)
	case r.Initial > 0 && !j.Local:
		return fmt.Errorf("%w: job %s: only local jobs retry", ErrInvalidJob, j.Name)
	case r.Initial > 0 && r.Max < r.Initial:
		j.Retry.Max = r.Initial
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	if _, dup := s.byName[j.Name]; dup {
		return fmt.Errorf("%w: %s", ErrDuplicateJob, j.Name)
	}
	js := &jobState{job: j, interval: iv, succeeded: make(chan struct{}), retryDelay: j.Retry.Initial}
	s.jobs = append(s.jobs, js)
	s.byName[j.Name] = js
	return nil
}

// link resolves dependencies and semaphores; called once by Run, with s.mu
// held because Status reads the dependencies.
func (s *Scheduler) link() error {
	sems := map[string]*semaphore.Weighted{}
	for _, js := range s.jobs {
		for _, dep := range js.job.After {
			d, ok := s.byName[dep]
			if !ok || d == js {
				return fmt.Errorf("%w: job %s waits for %q", ErrUnknownDependency, js.job.Name, dep)
			}
			js.deps = append(js.deps, d)
			d.dependents = append(d.dependents, js)
		}
		if ex := js.job.Exchange; ex != "" {
			if sems[ex] == nil {
				n := s.opts.DefaultConcurrency
				if c, ok := s.opts.Concurrency[ex]; ok {
					n = c
				}
				sems[ex] = semaphore.NewWeighted(int64(n))
			}
			js.sem = sems[ex]
		}
	}
	for _, js := range s.jobs {
		if cyclic(js, map[*jobState]bool{}) {
			return fmt.Errorf("%w: job %s depends on itself through %v", ErrUnknownDependency, js.job.Name, js.job.After)
		}
	}
	return nil
}

func cyclic(js *jobState, path map[*jobState]bool) bool {
	if path[js] {
		return true
	}
	path[js] = true
	defer delete(path, js)
	for _, d := range js.deps {
		if cyclic(d, path) {
			return true
		}
	}
	return false
}

// Run starts the jobs and blocks until ctx ends. Then no new run starts;
// running jobs get StopGrace to finish before their context is cancelled,
// and Run returns once they have returned. Jobs without dependencies run
// once at start; the others as soon as their dependencies first succeed.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrStarted
	}
	s.started = true
	err := s.link()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// Jobs outlive ctx by the grace period, so their context is separate.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	gs, err := gocron.NewScheduler(
		gocron.WithLogger(s.logger),
		gocron.WithLocation(time.UTC),
		gocron.WithStopTimeout(s.opts.StopGrace+5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("creating gocron scheduler: %w", err)
	}
	lockers := s.opts.Lockers
	if s.opts.Redis != nil {
		lockers = append([]TickLocker{NewRedisLocker(s.opts.Redis)}, lockers...)
	}
	var rl *tickLocks
	if len(lockers) > 0 {
		rl = newTickLocks(lockers, s.opts.LockPrefix, s.logger, s.metrics)
	}
	for _, js := range s.jobs {
		opts := []gocron.JobOption{
			gocron.WithName(js.job.Name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
		}
		if rl != nil && !js.job.Local {
			js.locker = rl.forJob(js)
			opts = append(opts, gocron.WithDistributedJobLocker(js.locker))
		}
		gj, err := addAligned(time.Now, js.interval, func(start time.Time) (gocron.Job, error) {
			return gs.NewJob(gocron.DurationJob(js.interval), gocron.NewTask(func() { s.tick(jobCtx, js) }),
				append(opts, gocron.WithStartAt(gocron.WithStartDateTime(start)))...)
		})
		if err != nil {
			_ = gs.Shutdown()
			return fmt.Errorf("adding job %s: %w", js.job.Name, err)
		}
		js.mu.Lock()
		js.gj = gj
		js.mu.Unlock()
	}
	gs.Start()
	for _, js := range s.jobs {
		if len(js.deps) == 0 {
			s.runNow(js)
		}
	}
	names := make([]string, len(lockers))
	for i, l := range lockers {
		names[i] = l.Name()
	}
	s.logger.Info("scheduler started", "jobs", len(s.jobs), "tick_locks", names)

	<-ctx.Done()
	s.logger.Info("scheduler stopping", "grace", s.opts.StopGrace)
	s.stopping.Store(true)
	for _, js := range s.jobs {
		js.mu.Lock()
		if js.retryTimer != nil {
			js.retryTimer.Stop()
		}
		js.mu.Unlock()
	}
	grace := time.AfterFunc(s.opts.StopGrace, cancelJobs)
	defer grace.Stop()
	if err := gs.Shutdown(); err != nil {
		return fmt.Errorf("stopping scheduler: %w", err)
	}
	return nil
}

// firstTick is the first scheduled run: the middle of a tick window, so
// that instances whose clocks differ a little still agree on the tick.
// addAligned adds a job whose first run is its next tick, taking the time
// again when that tick passed while the job was being added: on a loaded
// machine adding a few dozen jobs can take longer than the lead firstTick
// leaves, and gocron refuses a start in the past.
func addAligned(now func() time.Time, iv time.Duration, add func(start time.Time) (gocron.Job, error)) (gocron.Job, error) {
	for try := 1; ; try++ {
		j, err := add(firstTick(now(), iv))
		if errors.Is(err, gocron.ErrWithStartDateTimePast) && try < 5 {
			continue
		}
		return j, err
	}
}

func firstTick(now time.Time, iv time.Duration) time.Time {
	t := now.Truncate(iv).Add(iv / 2)
	if t.Sub(now) < time.Millisecond {
		t = t.Add(iv)
	}
	return t
}

func (s *Scheduler) runNow(js *jobState) {
	js.mu.Lock()
	gj := js.gj
	js.mu.Unlock()
	if err := gj.RunNow(); err != nil {
		s.logger.Debug("starting job now failed; it runs on its next tick", "job", js.job.Name, "err", err)
	}
}

// jobState is a job and what the scheduler remembers of it.
type jobState struct {
	job        Job
	interval   time.Duration
	deps       []*jobState
	dependents []*jobState
	sem        *semaphore.Weighted
	gj         gocron.Job

	succeeded     chan struct{} // closed at the first success
	succeededOnce sync.Once
	// unused is set by a skipped tick so that the distributed lock of the
	// tick is released for another instance.
	unused     atomic.Bool
	locker     *jobLocker   // nil: local only
	lockedTick atomic.Int64 // unix ms of the tick this instance holds

	// retrying marks a run started by a retry, which skips the backoff.
	retrying atomic.Bool

	mu           sync.Mutex
	retryDelay   time.Duration // before the next retry
	retryTimer   *time.Timer
	retryAt      time.Time // of the pending retry
	failures     int       // consecutive
	sinceAttempt int       // ticks since the last attempt, while backing off
	runs         int64
	last         Run
	lastSuccess  time.Time
}

func (js *jobState) hasSucceeded() bool {
	select {
	case <-js.succeeded:
		return true
	default:
		return false
	}
}

func (js *jobState) ready() bool {
	for _, d := range js.deps {
		select {
		case <-d.succeeded:
		default:
			return false
		}
	}
	return true
}

// every is how many ticks apart attempts are: 1 below the threshold, then
// doubling with each further failure, capped.
func every(failures, threshold, maxShift int) int {
	if failures < threshold {
		return 1
	}
	return 1 << min(failures-threshold+1, maxShift)
}

// backingOff counts a tick and reports whether it must be skipped.
func (js *jobState) backingOff(threshold, maxShift int) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.sinceAttempt++
	if js.sinceAttempt < every(js.failures, threshold, maxShift) {
		return true
	}
	js.sinceAttempt = 0
	return false
}

// tick is the gocron task of every job.
func (s *Scheduler) tick(ctx context.Context, js *jobState) {
	now := time.Now()
	r := Run{Job: js.job.Name, Exchange: js.job.Exchange, Tier: js.job.Tier, Tick: now.Truncate(js.interval), Started: now}
	if !js.ready() {
		js.unused.Store(true)
		r.Outcome, r.Err, r.Finished = Skipped, ErrWaitingForDependency, now
		s.finish(ctx, js, r)
		return
	}
	if !js.retrying.Swap(false) && js.backingOff(s.opts.FailureThreshold, s.opts.MaxBackoffShift) {
		js.unused.Store(true)
		r.Outcome, r.Err, r.Finished = Skipped, ErrBackoff, now
		s.finish(ctx, js, r)
		return
	}
	if j := min(s.opts.Jitter, js.interval/4); j > 0 {
		t := time.NewTimer(rand.N(j))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	if js.sem != nil {
		if err := js.sem.Acquire(ctx, 1); err != nil {
			return // shutting down
		}
		defer js.sem.Release(1)
	}
	r.Started = time.Now()
	r.Tick = r.Started.Truncate(js.interval)
	if js.locker != nil && !js.locker.holds(ctx, r.Tick) {
		return // the wait ran into a tick another instance has taken
	}
	rows, err := call(priority.With(ctx, js.job.Tier.Priority()), js.job.Run)
	r.Finished, r.Rows, r.Err, r.Outcome = time.Now(), rows, err, OK
	if err != nil {
		r.Outcome = Error
	}
	s.finish(ctx, js, r)
}

// call runs f, turning a panic into an error so one bad job cannot take
// the daemon down.
func call(ctx context.Context, f Func) (rows int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return f(ctx)
}

// finish records r, tells the hook and wakes dependents on a first success.
func (s *Scheduler) finish(ctx context.Context, js *jobState, r Run) {
	js.mu.Lock()
	js.last = r
	switch r.Outcome {
	case OK:
		js.runs++
		js.failures = 0
		js.lastSuccess = r.Finished
	case Error:
		js.runs++
		js.failures++
	}
	failures := js.failures
	js.mu.Unlock()

	s.metrics.observe(r)
	switch r.Outcome {
	case Error:
		s.logger.Warn("job failed", "job", r.Job, "exchange", r.Exchange, "consecutive_failures", failures, "err", r.Err)
		if failures == s.opts.FailureThreshold {
			s.logger.Warn("job backing off", "job", r.Job, "failures", failures)
		}
	case OK:
		s.logger.Debug("job ran", "job", r.Job, "rows", r.Rows, "took", r.Finished.Sub(r.Started))
	}
	if s.opts.Hook != nil {
		// The row of the last run before shutdown must still be written.
		s.opts.Hook.JobRan(context.WithoutCancel(ctx), r)
	}
	if r.Outcome == Error && js.job.Retry.Initial > 0 && !js.hasSucceeded() {
		s.retryLater(js)
	}
	if r.Outcome == OK {
		first := false
		js.succeededOnce.Do(func() { close(js.succeeded); first = true })
		if first {
			for _, d := range js.dependents {
				if d.ready() {
					s.runNow(d)
				}
			}
		}
	}
}

// retryLater runs js again after its retry delay, and doubles the delay.
func (s *Scheduler) retryLater(js *jobState) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if s.stopping.Load() {
		return
	}
	d := js.retryDelay
	js.retryDelay = min(2*d, js.job.Retry.Max)
	js.retryAt = time.Now().Add(d)
	if js.retryTimer != nil {
		js.retryTimer.Stop() // a tick failed while a retry was pending: one retry is enough
	}
	js.retryTimer = time.AfterFunc(d, func() {
		if s.stopping.Load() || js.hasSucceeded() {
			return
		}
		js.retrying.Store(true)
		s.runNow(js)
	})
	s.logger.Info("job failed before its first success: retrying", "job", js.job.Name, "in", d)
}

// Succeeded reports whether job has succeeded once in this process.
func (s *Scheduler) Succeeded(job string) bool {
	s.mu.Lock()
	js := s.byName[job]
	s.mu.Unlock()
	return js != nil && js.hasSucceeded()
}

// JobStatus is what /status shows of a job.
type JobStatus struct {
	Name                string    `json:"name"`
	Exchange            string    `json:"exchange,omitempty"`
	Tier                Tier      `json:"tier"`
	Interval            string    `json:"interval"`
	Runs                int64     `json:"runs"`
	Waiting             bool      `json:"waiting"` // for a dependency's first success
	ConsecutiveFailures int       `json:"consecutive_failures"`
	BackoffEvery        int       `json:"backoff_every"` // runs every n-th tick; 1 normally
	LastStarted         time.Time `json:"last_started,omitzero"`
	LastFinished        time.Time `json:"last_finished,omitzero"`
	LastOutcome         Outcome   `json:"last_outcome,omitempty"`
	LastRows            int64     `json:"last_rows"`
	LastError           string    `json:"last_error,omitempty"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	NextRun             time.Time `json:"next_run,omitzero"`
	// RetryAt is the pending retry of a job that has not succeeded yet.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// Status returns every job's state, in the order they were added. It holds
// s.mu throughout so that it never reads dependencies Run is still linking.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, js := range s.jobs {
		js.mu.Lock()
		st := JobStatus{
			Name: js.job.Name, Exchange: js.job.Exchange, Tier: js.job.Tier, Interval: js.interval.String(),
			Runs: js.runs, ConsecutiveFailures: js.failures,
			BackoffEvery: every(js.failures, s.opts.FailureThreshold, s.opts.MaxBackoffShift),
			LastStarted:  js.last.Started, LastFinished: js.last.Finished, LastOutcome: js.last.Outcome,
			LastRows: js.last.Rows, LastSuccess: js.lastSuccess,
		}
		if js.last.Err != nil {
			st.LastError = js.last.Err.Error()
		}
		if js.retryAt.After(time.Now()) && !js.hasSucceeded() {
			st.RetryAt = js.retryAt
		}
		gj := js.gj
		js.mu.Unlock()
		st.Waiting = !js.ready()
		if gj != nil {
			if t, err := gj.NextRun(); err == nil {
				st.NextRun = t
			}
		}
		out = append(out, st)
	}
	return out
}

// LastSuccessByExchange returns the latest success of any job per exchange.
func (s *Scheduler) LastSuccessByExchange() map[string]time.Time {
	out := map[string]time.Time{}
	for _, st := range s.Status() {
		if st.Exchange != "" && st.LastSuccess.After(out[st.Exchange]) {
			out[st.Exchange] = st.LastSuccess
		}
	}
	return out
}
