// Package writer batches rows on their way to the store: a bounded queue
// whose Put blocks when full (backpressure reaches the jobs instead of
// memory growing), one buffer per table flushed by size and by time, and a
// drain that writes what is queued before the process exits.
//
// While the database is unreachable (store.Retryable errors), batches go
// to a disk Spool instead, so fetching goes on; once a write succeeds
// again the spool is replayed oldest first, and new batches keep going to
// the spool until it is empty, so rows reach the database in the order
// they were fetched. Without a spool the writer keeps the rows in memory,
// holds its intake, and retries with backoff.
//
// Backpressure as the spool fills (see Pressure):
//   - spool below Options.SoftLimit (80%): no Put waits for the spool;
//   - at or above it: Puts of market data (symbols, tickers, order books,
//     candles, trades) whose context carries ratelimit.Low or
//     ratelimit.Medium priority wait until the spool drains below it, so
//     the lowest tiers pause first; High and Critical (realtime) tiers and
//     the ops tables (quality reports, rejected rows, job runs, request
//     metrics: small, and the record of what happened) go on;
//   - spool full (a batch did not fit): every Put waits, and nothing is
//     dropped.
//
// A context without a priority counts as Medium (ratelimit.PriorityFrom).
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ratelimit"
	"github.com/mdingest/mdingest/internal/store"
)

// Errors.
var (
	ErrClosed       = errors.New("writer closed")
	ErrRunning      = errors.New("writer already running")
	ErrDrainTimeout = errors.New("drain deadline reached with rows unwritten")
	ErrInvalid      = errors.New("invalid writer options")
	// errStillSpooling: the drain's flush went to the spool, not the database.
	errStillSpooling = errors.New("database unreachable, rows spooled")
	errWrongRows     = errors.New("spooled rows do not match their table")
)

// Store is what the writer needs of *store.Store.
type Store interface {
	Markets(ctx context.Context, rows []market.Market) (store.Result, error)
	Tickers(ctx context.Context, rows []market.Ticker) (store.Result, error)
	OrderBooks(ctx context.Context, rows []market.OrderBook) (store.Result, error)
	Candles(ctx context.Context, rows []market.Candle) (store.Result, error)
	Trades(ctx context.Context, rows []market.Trade) (store.Result, error)
	QualityReports(ctx context.Context, rows []store.QualityReport) (store.Result, error)
	RejectedRows(ctx context.Context, rows []store.RejectedRow) (store.Result, error)
	JobRuns(ctx context.Context, rows []store.JobRun) (store.Result, error)
	RequestMetrics(ctx context.Context, rows []store.RequestMetric) (store.Result, error)
}

// Table names a buffer; the values are the tables' names.
type Table string

// The tables.
const (
	Symbols        Table = "symbols"
	Tickers        Table = "tickers"
	OrderBooks     Table = "order_books"
	Candles        Table = "candles"
	Trades         Table = "trades"
	QualityReports Table = "quality_reports"
	RejectedRows   Table = "rejected_rows"
	JobRuns        Table = "job_runs"
	RequestMetrics Table = "request_metrics"
)

// Spool is the disk buffer for outages (*spool.Spool): Append must be
// durable when it returns nil and fail (spool.ErrFull) when the batch does
// not fit; Peek returns the oldest batch until Ack drops it. rows is the
// table's slice type ([]market.Candle for "candles", ...).
type Spool interface {
	Append(table string, rows any) error
	Peek() (table string, rows any, ok bool, err error)
	Ack() error
	Pending() int
	Usage() float64 // bytes used as a fraction of the bound, 0..1
}

// quarantiner is a Spool that also keeps batches the database refused for
// good (not replayed: replaying would be refused again).
type quarantiner interface {
	Quarantine(table string, rows any) error
}

// Pressure is how full the spool is, as Puts feel it.
type Pressure int

// Pressure levels.
const (
	PressureNone Pressure = iota // spool below the soft limit, or no spool
	PressureSoft                 // low and medium priority market data waits
	PressureFull                 // the spool took no more: every Put waits
)

func (p Pressure) String() string {
	switch p {
	case PressureSoft:
		return "soft"
	case PressureFull:
		return "full"
	}
	return "none"
}

// Options configure a Writer. Zero values take the defaults.
type Options struct {
	BatchSize     int           // rows per table that trigger a flush; default 5000
	FlushInterval time.Duration // pending rows wait at most about this long; default 1s
	QueueSize     int           // batches the queue holds before Put blocks; default 64
	RetryInitial  time.Duration // first wait after a retryable failure; default 200ms
	RetryMax      time.Duration // longest wait between retries; default 30s
	Spool         Spool         // nil: rows wait in memory while the database is away
	SoftLimit     float64       // spool usage from which low tiers wait; default 0.8
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Writer implements ingest.Sink and ingest.RejectSink. Put methods are
// safe for concurrent use; Run owns the buffers. Rows passed to Put must
// not be modified afterwards (Put assigns the IDs of ops rows in place, so
// a batch spooled and replayed twice stays one set of rows).
type Writer struct {
	st      Store
	opts    Options
	logger  *slog.Logger
	m       *metrics
	queue   chan item
	buffers []buffer
	byName  map[Table]buffer
	sp      Spool

	pmu      sync.Mutex
	pressure Pressure
	relief   chan struct{} // closed when pressure drops

	mu       sync.Mutex
	closed   bool
	started  bool
	closing  chan struct{} // closed by Drain: Puts stop waiting
	inflight sync.WaitGroup
	drainReq chan drainRequest
	exited   chan struct{} // closed when Run returns

	// Owned by the goroutine running the loop.
	spooling bool // flushes go to the spool: it holds batches, or the database failed
	held     bool // rows can go nowhere: the intake stops
	armed    bool // the retry timer is set
	bo       *backoff.ExponentialBackOff
}

type item struct {
	table int
	add   func() // appends to the table's buffer, in the loop's goroutine
}

type drainRequest struct {
	ctx  context.Context
	done chan error
}

// New returns a Writer over st.
func New(st Store, opts Options) (*Writer, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: no store", ErrInvalid)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.BatchSize, 5000)
	def(&opts.QueueSize, 64)
	defDur(&opts.FlushInterval, time.Second)
	defDur(&opts.RetryInitial, 200*time.Millisecond)
	defDur(&opts.RetryMax, 30*time.Second)
	if opts.SoftLimit == 0 {
		opts.SoftLimit = 0.8
	}
	if opts.SoftLimit < 0 || opts.SoftLimit > 1 {
		return nil, fmt.Errorf("%w: soft limit %v (want 0..1)", ErrInvalid, opts.SoftLimit)
	}
	if opts.BatchSize < 1 || opts.QueueSize < 1 || opts.FlushInterval < 0 || opts.RetryInitial < 0 || opts.RetryMax < opts.RetryInitial {
		return nil, fmt.Errorf("%w: batch size %d, queue size %d, flush interval %s, retry %s..%s",
			ErrInvalid, opts.BatchSize, opts.QueueSize, opts.FlushInterval, opts.RetryInitial, opts.RetryMax)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		st: st, opts: opts, logger: logger.With("component", "writer"),
		queue: make(chan item, opts.QueueSize), closing: make(chan struct{}),
		drainReq: make(chan drainRequest), exited: make(chan struct{}), relief: make(chan struct{}),
		sp: opts.Spool,
	}
	w.buffers = []buffer{
		newBuf(Symbols, st.Markets), newBuf(Tickers, st.Tickers), newBuf(OrderBooks, st.OrderBooks),
		newBuf(Candles, st.Candles), newBuf(Trades, st.Trades), newBuf(QualityReports, st.QualityReports),
		newBuf(RejectedRows, st.RejectedRows), newBuf(JobRuns, st.JobRuns), newBuf(RequestMetrics, st.RequestMetrics),
	}
	w.byName = map[Table]buffer{}
	for _, b := range w.buffers {
		w.byName[b.name()] = b
	}
	w.bo = backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(opts.RetryInitial), backoff.WithMaxInterval(opts.RetryMax), backoff.WithMaxElapsedTime(0))
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(len(w.queue)) },
		func() float64 { return float64(w.Pressure()) })
	if err != nil {
		return nil, err
	}
	w.m = m
	return w, nil
}

// Put methods queue rows for their table; started is when the request that
// fetched them began, for the end-to-end latency metric. They block while
// the queue is full, until ctx ends.

// PutMarkets queues market.symbols rows.
func (w *Writer) PutMarkets(ctx context.Context, started time.Time, rows []market.Market) error {
	return put(ctx, w, 0, started, rows)
}

// PutTickers queues tickers.
func (w *Writer) PutTickers(ctx context.Context, started time.Time, rows []market.Ticker) error {
	return put(ctx, w, 1, started, rows)
}

// PutOrderBooks queues order books.
func (w *Writer) PutOrderBooks(ctx context.Context, started time.Time, rows []market.OrderBook) error {
	return put(ctx, w, 2, started, rows)
}

// PutCandles queues candles.
func (w *Writer) PutCandles(ctx context.Context, started time.Time, rows []market.Candle) error {
	return put(ctx, w, 3, started, rows)
}

// PutTrades queues trades.
func (w *Writer) PutTrades(ctx context.Context, started time.Time, rows []market.Trade) error {
	return put(ctx, w, 4, started, rows)
}

// PutQualityReports queues quality reports.
func (w *Writer) PutQualityReports(ctx context.Context, started time.Time, rows []store.QualityReport) error {
	for i := range rows {
		ensureID(&rows[i].ID)
	}
	return put(ctx, w, 5, started, rows)
}

// PutRejectedRows queues rejected rows.
func (w *Writer) PutRejectedRows(ctx context.Context, started time.Time, rows []store.RejectedRow) error {
	now := time.Now()
	for i := range rows {
		ensureID(&rows[i].ID)
		if rows[i].Time.IsZero() {
			rows[i].Time = now // part of the key: fixed before the row can be spooled
		}
	}
	return put(ctx, w, 6, started, rows)
}

// PutJobRuns queues job runs (the scheduler hook's rows).
func (w *Writer) PutJobRuns(ctx context.Context, started time.Time, rows []store.JobRun) error {
	for i := range rows {
		ensureID(&rows[i].ID)
	}
	return put(ctx, w, 7, started, rows)
}

// PutRequestMetrics queues request records (the HTTP client hook's rows).
func (w *Writer) PutRequestMetrics(ctx context.Context, started time.Time, rows []store.RequestMetric) error {
	for i := range rows {
		ensureID(&rows[i].ID)
	}
	return put(ctx, w, 8, started, rows)
}

// ensureID gives an ops row its ID at Put, as the store would at write
// time, so that a replayed batch carries the same IDs as the first try.
func ensureID(id *uuid.UUID) {
	if *id == uuid.Nil {
		*id = uuid.Must(uuid.NewV7())
	}
}

func put[T any](ctx context.Context, w *Writer, table int, started time.Time, rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	b := w.buffers[table].(*buf[T])
	it := item{table: table, add: func() { b.add(started, rows) }}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("queueing %s: %w", b.table, ErrClosed)
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()
	if err := w.admit(ctx, b.table); err != nil {
		return err
	}
	select {
	case w.queue <- it:
		return nil
	default:
	}
	w.m.blocked.Inc()
	select {
	case w.queue <- it:
		return nil
	case <-w.closing:
		return fmt.Errorf("queueing %s: %w", b.table, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("queueing %s (queue full): %w", b.table, ctx.Err())
	}
}

// Run writes queued rows until Drain has flushed them, or until ctx ends
// (an abort: what is pending goes to the Spool, if any). It may be called
// once. Batches a Spool holds from an earlier run are replayed first.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case w.started:
		w.mu.Unlock()
		return ErrRunning
	}
	w.started = true
	w.mu.Unlock()
	defer close(w.exited)

	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	if w.sp != nil && w.sp.Pending() > 0 {
		w.logger.Info("replaying spooled batches", "records", w.sp.Pending())
		w.spooling = true
		w.arm(retry, 0)
	}
	w.updatePressure()
	for {
		in := w.queue
		if w.held {
			in = nil // rows can go nowhere: Puts block instead of memory growing
		}
		select {
		case it := <-in:
			it.add()
			b := w.buffers[it.table]
			w.m.pending.WithLabelValues(string(b.name())).Set(float64(b.len()))
			if b.len() >= w.opts.BatchSize {
				w.afterFlush(w.flush(ctx, b), retry)
			}
		case <-tick.C:
			if !w.held {
				w.afterFlush(w.flushAll(ctx), retry)
			}
		case <-retry.C:
			w.armed = false
			w.retry(ctx, retry)
		case req := <-w.drainReq:
			err := w.drain(req.ctx)
			req.done <- err
			return err
		case <-ctx.Done():
			if dropped := w.abandon(); dropped > 0 {
				return fmt.Errorf("stopped with %d rows dropped unwritten: %w", dropped, ctx.Err())
			}
			return nil
		}
	}
}

// arm sets the retry timer.
func (w *Writer) arm(retry *time.Timer, d time.Duration) {
	retry.Reset(d)
	w.armed = true
}

// retry is the retry timer's work: replay one spooled batch (the timer
// fires again at once while more wait, so the intake is served between
// batches), then, with the spool empty, write the buffers directly again.
func (w *Writer) retry(ctx context.Context, retry *time.Timer) {
	if w.spooling {
		more, err := w.replayOne(ctx)
		if err != nil {
			w.arm(retry, w.bo.NextBackOff())
			return
		}
		w.bo.Reset()
		if more {
			if w.held { // room again, maybe: spool what waits in memory
				w.afterFlush(w.flushAll(ctx), retry)
			}
			w.arm(retry, 0)
			return
		}
		w.spooling = false
		w.logger.Info("spool replayed, writing to the database again")
	}
	w.afterFlush(w.flushAll(ctx), retry)
}

// afterFlush updates the state after a flush: err means rows could go
// nowhere (no spool, or the spool refused them) and stay in memory.
func (w *Writer) afterFlush(err error, retry *time.Timer) {
	defer w.updatePressure()
	if err != nil {
		wait := w.bo.NextBackOff()
		if !w.held {
			w.logger.Warn("rows cannot be written nor spooled, holding the intake", "retry_in", wait, "err", err)
		}
		w.held = true
		w.arm(retry, wait)
		return
	}
	if w.held {
		w.logger.Info("writes resumed")
		w.held = false
	}
	if w.spooling {
		if !w.armed {
			w.arm(retry, w.bo.NextBackOff())
		}
		return
	}
	w.bo.Reset()
}

// flushAll flushes every non-empty buffer; it stops at the first failure
// that leaves rows in memory and returns it.
func (w *Writer) flushAll(ctx context.Context) error {
	for _, b := range w.buffers {
		if err := w.flush(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// flush writes one buffer: to the spool while spooling, else to the
// database, switching to the spool on a retryable failure. An error means
// the rows stay in memory. A permanent failure quarantines the rows and
// returns nil so the other tables go on.
func (w *Writer) flush(ctx context.Context, b buffer) error {
	if b.len() == 0 {
		return nil
	}
	if w.spooling {
		return w.spill(b)
	}
	table := string(b.name())
	begin := time.Now()
	res, starts, err := b.flush(ctx)
	w.m.flushDuration.WithLabelValues(table).Observe(time.Since(begin).Seconds())
	switch {
	case err == nil:
		now := time.Now()
		for _, s := range starts {
			w.m.latency.WithLabelValues(table).Observe(now.Sub(s).Seconds())
		}
		w.countResult(table, res)
	case ctx.Err() != nil:
		// Stopping, not the rows' fault: keep them for the drain or the spool.
		return fmt.Errorf("writing %s: %w", table, err)
	case store.Retryable(err):
		w.m.flushErrors.WithLabelValues(table, "retryable").Inc()
		if w.sp == nil {
			return fmt.Errorf("writing %s: %w", table, err)
		}
		w.logger.Warn("database unreachable, spooling batches to disk until it is back", "table", table, "err", err)
		w.spooling = true
		return w.spill(b)
	default:
		w.m.flushErrors.WithLabelValues(table, "permanent").Inc()
		w.logger.Error("database refused a batch", "table", table, "rows", b.len(), "err", err)
		w.refused(b.name(), b.len(), b.take())
	}
	w.m.pending.WithLabelValues(table).Set(float64(b.len()))
	return nil
}

func (w *Writer) countResult(table string, res store.Result) {
	w.m.rows.WithLabelValues(table, "inserted").Add(float64(res.Inserted))
	w.m.rows.WithLabelValues(table, "updated").Add(float64(res.Updated))
	w.m.rows.WithLabelValues(table, "duplicate").Add(float64(res.Duplicates))
	w.m.rows.WithLabelValues(table, "conflict").Add(float64(res.Conflicts))
	w.m.rows.WithLabelValues(table, "rejected").Add(float64(res.Rejected))
}

// spill appends a buffer to the spool; on failure the rows stay.
func (w *Writer) spill(b buffer) error {
	table, n := string(b.name()), b.len()
	if err := w.sp.Append(table, b.rows()); err != nil {
		return fmt.Errorf("spooling %s: %w", table, err)
	}
	b.take()
	w.m.spilled.WithLabelValues(table).Add(float64(n))
	w.m.pending.WithLabelValues(table).Set(0)
	return nil
}

// replayOne writes the oldest spooled batch; more reports whether others
// wait. An error means the database (or the disk) is not ready: try later.
func (w *Writer) replayOne(ctx context.Context) (more bool, err error) {
	table, rows, ok, err := w.sp.Peek()
	if err != nil {
		w.logger.Error("reading the spool failed", "err", err)
		return false, fmt.Errorf("reading spool: %w", err)
	}
	if !ok {
		return false, nil
	}
	b, known := w.byName[Table(table)]
	if !known {
		err = fmt.Errorf("%w: unknown table %q", errWrongRows, table)
	} else {
		var res store.Result
		res, err = b.writeRows(ctx, rows)
		if err == nil {
			w.countResult(table, res)
			w.m.replayed.WithLabelValues(table).Add(float64(res.Requested))
		}
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return false, fmt.Errorf("replaying %s: %w", table, err)
	case store.Retryable(err):
		w.m.flushErrors.WithLabelValues(table, "retryable").Inc()
		return false, fmt.Errorf("replaying %s: %w", table, err)
	default:
		w.m.flushErrors.WithLabelValues(table, "permanent").Inc()
		w.logger.Error("database refused a spooled batch", "table", table, "err", err)
		w.refused(Table(table), rowCount(rows), rows)
	}
	if err := w.sp.Ack(); err != nil {
		return false, fmt.Errorf("acknowledging spooled batch: %w", err)
	}
	w.updatePressure()
	return w.sp.Pending() > 0, nil
}

// refused keeps rows the database refused for good in the spool's
// quarantine, or drops them loudly.
func (w *Writer) refused(table Table, n int, rows any) {
	if q, ok := w.sp.(quarantiner); ok {
		err := q.Quarantine(string(table), rows)
		if err == nil {
			w.m.quarantined.WithLabelValues(string(table)).Add(float64(n))
			return
		}
		w.logger.Error("quarantining refused rows failed", "table", table, "rows", n, "err", err)
	}
	w.m.dropped.WithLabelValues(string(table)).Add(float64(n))
	w.logger.Error("rows dropped unwritten", "table", table, "rows", n)
}

// abandon takes everything still queued or pending out of the writer into
// the spool and returns how many rows could not be kept.
func (w *Writer) abandon() (dropped int) {
	w.takeQueued()
	spooled := 0
	for _, b := range w.buffers {
		n := b.len()
		if n == 0 {
			continue
		}
		if w.sp != nil {
			err := w.spill(b)
			if err == nil {
				spooled += n
				continue
			}
			w.logger.Error("spooling unwritten rows failed", "table", b.name(), "rows", n, "err", err)
		}
		w.m.dropped.WithLabelValues(string(b.name())).Add(float64(n))
		w.m.pending.WithLabelValues(string(b.name())).Set(0)
		w.logger.Error("rows dropped unwritten", "table", b.name(), "rows", n)
		b.take()
		dropped += n
	}
	if spooled > 0 || w.sp != nil && w.sp.Pending() > 0 {
		w.logger.Warn("stopping with rows in the spool; the next start replays them",
			"rows_spooled_now", spooled, "spooled_batches", w.sp.Pending())
	}
	return dropped
}

// takeQueued moves queued items into the buffers without blocking.
func (w *Writer) takeQueued() {
	for {
		select {
		case it := <-w.queue:
			it.add()
		default:
			return
		}
	}
}

// drain writes everything spooled, queued and pending, retrying until ctx
// ends. The intake is closed and no Put is in flight when it runs. Rows
// the database cannot take by then stay in the spool (not an error: they
// are on disk); only rows that fit nowhere make it fail.
func (w *Writer) drain(ctx context.Context) error {
	w.takeQueued()
	w.bo.Reset()
	for {
		err := w.catchUp(ctx)
		if err == nil {
			w.logger.Info("writer drained")
			return nil
		}
		t := time.NewTimer(w.bo.NextBackOff())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if n := w.abandon(); n > 0 {
				return fmt.Errorf("%w: %d rows (last error: %w)", ErrDrainTimeout, n, err)
			}
			return nil
		}
	}
}

// catchUp replays the spool, then writes the buffers; nil only when all
// of it reached the database.
func (w *Writer) catchUp(ctx context.Context) error {
	if w.spooling {
		for {
			more, err := w.replayOne(ctx)
			if err != nil {
				return errors.Join(err, w.flushAll(ctx)) // keep the buffers on disk meanwhile
			}
			if !more {
				break
			}
		}
		w.spooling = false
	}
	if err := w.flushAll(ctx); err != nil {
		return err
	}
	if w.spooling {
		return errStillSpooling
	}
	return nil
}

// Drain stops accepting rows (Puts fail with ErrClosed), writes everything
// queued, and returns when done or when ctx ends (its deadline bounds the
// drain; rows left then go to the Spool, if any). Run returns after it.
func (w *Writer) Drain(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.closing)
	}
	started := w.started
	w.mu.Unlock()
	w.inflight.Wait() // Puts return at once now that closing is closed
	if !started {
		if w.sp != nil && w.sp.Pending() > 0 {
			w.spooling = true
		}
		return w.drain(ctx) // Run never ran and never will: drain here
	}
	req := drainRequest{ctx: ctx, done: make(chan error, 1)}
	select {
	case w.drainReq <- req:
		return <-req.done
	case <-w.exited:
		return fmt.Errorf("draining: %w", ErrClosed) // Run already stopped
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrDrainTimeout, ctx.Err())
	}
}

// Pressure returns how full the spool is, for the scheduler and /status.
func (w *Writer) Pressure() Pressure {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	return w.pressure
}

// updatePressure recomputes the level after the spool or the intake
// changed, and wakes waiting Puts when it drops.
func (w *Writer) updatePressure() {
	if w.sp == nil {
		return
	}
	usage := w.sp.Usage()
	level := PressureNone
	switch {
	case w.held:
		level = PressureFull
	case usage >= w.opts.SoftLimit:
		level = PressureSoft
	}
	w.pmu.Lock()
	old := w.pressure
	w.pressure = level
	if level < old {
		close(w.relief)
		w.relief = make(chan struct{})
	}
	w.pmu.Unlock()
	if level == old {
		return
	}
	switch level {
	case PressureFull:
		w.logger.Error("spool full: every write waits until the database takes rows again", "usage", usage)
	case PressureSoft:
		w.logger.Warn("spool filling: low and medium priority market data waits", "usage", usage, "soft_limit", w.opts.SoftLimit)
	default:
		w.logger.Info("spool pressure relieved: all writes go on", "usage", usage)
	}
}

// admit makes a Put wait while the spool's pressure says its rows must:
// see the package comment.
func (w *Writer) admit(ctx context.Context, table Table) error {
	prio := ratelimit.PriorityFrom(ctx)
	counted := false
	for {
		w.pmu.Lock()
		level, relief := w.pressure, w.relief
		w.pmu.Unlock()
		if !waits(level, table, prio) {
			return nil
		}
		if !counted {
			w.m.paused.WithLabelValues(prio.String()).Inc()
			counted = true
		}
		select {
		case <-relief:
		case <-w.closing:
			return fmt.Errorf("queueing %s: %w", table, ErrClosed)
		case <-ctx.Done():
			return fmt.Errorf("queueing %s (spool %s): %w", table, level, ctx.Err())
		}
	}
}

func waits(level Pressure, table Table, prio ratelimit.Priority) bool {
	switch level {
	case PressureFull:
		return true
	case PressureSoft:
		switch table {
		case QualityReports, RejectedRows, JobRuns, RequestMetrics:
			return false
		}
		return prio <= ratelimit.Medium
	}
	return false
}

// rowCount is len(rows) for any row slice.
func rowCount(rows any) int {
	switch r := rows.(type) {
	case []market.Market:
		return len(r)
	case []market.Ticker:
		return len(r)
	case []market.OrderBook:
		return len(r)
	case []market.Candle:
		return len(r)
	case []market.Trade:
		return len(r)
	case []store.QualityReport:
		return len(r)
	case []store.RejectedRow:
		return len(r)
	case []store.JobRun:
		return len(r)
	case []store.RequestMetric:
		return len(r)
	}
	return 0
}

// Spooled returns the batches waiting in the spool (for /status).
func (w *Writer) Spooled() int {
	if w.sp == nil {
		return 0
	}
	return w.sp.Pending()
}

// QueueDepth returns the batches waiting in the queue (for /status).
func (w *Writer) QueueDepth() int { return len(w.queue) }

// buffer is one table's pending rows.
type buffer interface {
	name() Table
	len() int
	flush(ctx context.Context) (store.Result, []time.Time, error)
	rows() any // the pending rows, left in place
	take() any
	writeRows(ctx context.Context, rows any) (store.Result, error)
}

type buf[T any] struct {
	table  Table
	pend   []T
	starts []time.Time // one per Put, for latency
	write  func(context.Context, []T) (store.Result, error)
}

func newBuf[T any](table Table, write func(context.Context, []T) (store.Result, error)) *buf[T] {
	return &buf[T]{table: table, write: write}
}

func (b *buf[T]) name() Table { return b.table }
func (b *buf[T]) len() int    { return len(b.pend) }
func (b *buf[T]) rows() any   { return b.pend }

func (b *buf[T]) add(started time.Time, rows []T) {
	b.pend = append(b.pend, rows...)
	b.starts = append(b.starts, started)
}

// flush writes the rows; on error they stay for the next attempt (the
// store assigns IDs in place, so a retried batch stays idempotent).
func (b *buf[T]) flush(ctx context.Context) (store.Result, []time.Time, error) {
	res, err := b.write(ctx, b.pend)
	if err != nil {
		return res, nil, err
	}
	starts := b.starts
	b.pend, b.starts = nil, nil
	return res, starts, nil
}

func (b *buf[T]) take() any {
	rows := b.pend
	b.pend, b.starts = nil, nil
	return rows
}

// writeRows writes rows read back from the spool.
func (b *buf[T]) writeRows(ctx context.Context, rows any) (store.Result, error) {
	r, ok := rows.([]T)
	if !ok {
		return store.Result{}, fmt.Errorf("%w: %T for %s", errWrongRows, rows, b.table)
	}
	return b.write(ctx, r)
}
