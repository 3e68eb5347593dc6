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
// holds its intake, and retries with backoff. A batch the database
// refuses for good (a row's own data, SQLSTATE classes 22 and 23, that the
// store could not isolate) goes to the spool's quarantine, kept for
// `mdingest quarantine replay`.
//
// Backpressure as the spool fills (see pressure.go):
//   - spool below Options.SoftLimit (80%): no Put waits for the spool;
//   - at or above it: Puts of market data (symbols, tickers, order books,
//     candles, trades) whose context carries priority.Low or
//     priority.Medium priority wait until the spool drains below it, so
//     the lowest tiers pause first; High and Critical (realtime) tiers and
//     the ops tables (quality reports, rejected rows, job runs, request
//     metrics: small, and the record of what happened) go on, into the
//     room above the soft limit, which the low tiers' batches never take;
//   - spool full (rows of those that go on did not fit): every Put waits.
//
// Batches are split to fit the room left, so a batch larger than the free
// space, or than the whole spool, is spooled in parts as room comes. At
// shutdown, rows that fit nowhere are spooled past the bound rather than
// lost, and the drain reports it. Nothing is dropped while a disk takes
// writes.
//
// A context without a priority counts as Medium (priority.From).
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
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
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
	errNoRoom        = errors.New("rows do not fit in the spool")
)

// Store is what the writer needs of *store.Store.
type Store interface {
	Markets(ctx context.Context, rows []market.Market) (store.Result, error)
	Tickers(ctx context.Context, rows []market.Ticker) (store.Result, error)
	OrderBooks(ctx context.Context, rows []market.OrderBook) (store.Result, error)
	Candles(ctx context.Context, rows []market.Candle) (store.Result, error)
	Trades(ctx context.Context, rows []market.Trade) (store.Result, error)
	QualityReports(ctx context.Context, rows []ops.QualityReport) (store.Result, error)
	RejectedRows(ctx context.Context, rows []ops.RejectedRow) (store.Result, error)
	JobRuns(ctx context.Context, rows []ops.JobRun) (store.Result, error)
	RequestMetrics(ctx context.Context, rows []ops.RequestMetric) (store.Result, error)
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
// durable when it returns nil and fail (spool.ErrFull) when the spool
// would then use more than limit of its bound (limit may exceed 1:
// math.Inf(1) means no bound); Peek returns the oldest batch until Ack
// drops it. rows is the table's slice type ([]market.Candle for "candles",
// ...).
type Spool interface {
	Append(table string, rows any, limit float64) error
	Peek() (table string, rows any, ok bool, err error)
	Ack() error
	Pending() int
	Usage() float64 // bytes used as a fraction of the bound, 0..1 (more after a shutdown past it)
}

// quarantiner is a Spool that also keeps batches the database refused for
// good (not replayed: replaying would be refused again).
type quarantiner interface {
	Quarantine(table string, rows any, reason string) error
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
	stopping chan struct{} // closed by Stopping: Puts no longer wait for the spool
	stopOnce sync.Once
	inflight sync.WaitGroup
	drainReq chan drainRequest
	exited   chan struct{} // closed when Run returns

	// Owned by the goroutine running the loop.
	spooling bool            // flushes go to the spool: it holds batches, or the database failed
	held     bool            // rows that must go on can go nowhere: the intake stops
	waiting  bool            // low-tier rows wait in memory for room below the soft limit
	stuck    map[buffer]bool // buffers whose last flush left rows in memory
	armed    bool            // the retry timer is set
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
		queue: make(chan item, opts.QueueSize), closing: make(chan struct{}), stopping: make(chan struct{}),
		drainReq: make(chan drainRequest), exited: make(chan struct{}), relief: make(chan struct{}),
		sp: opts.Spool, stuck: map[buffer]bool{},
	}
	w.buffers = newBuffers(st)
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

// newBuffers returns one buffer per table, in the order of the Put
// methods' table indexes.
func newBuffers(st Store) []buffer {
	return []buffer{
		newBuf(Symbols, st.Markets), newBuf(Tickers, st.Tickers), newBuf(OrderBooks, st.OrderBooks),
		newBuf(Candles, st.Candles), newBuf(Trades, st.Trades), newBuf(QualityReports, st.QualityReports),
		newBuf(RejectedRows, st.RejectedRows), newBuf(JobRuns, st.JobRuns), newBuf(RequestMetrics, st.RequestMetrics),
	}
}

// Write writes rows read back from a spool (a table's slice type) straight
// to st, as a replay does: for `mdingest quarantine replay`.
func Write(ctx context.Context, st Store, table string, rows any) (store.Result, error) {
	for _, b := range newBuffers(st) {
		if string(b.name()) == table {
			return b.writeRows(ctx, rows)
		}
	}
	return store.Result{}, fmt.Errorf("%w: unknown table %q", errWrongRows, table)
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
func (w *Writer) PutQualityReports(ctx context.Context, started time.Time, rows []ops.QualityReport) error {
	for i := range rows {
		ensureID(&rows[i].ID)
	}
	return put(ctx, w, 5, started, rows)
}

// PutRejectedRows queues rejected rows.
func (w *Writer) PutRejectedRows(ctx context.Context, started time.Time, rows []ops.RejectedRow) error {
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
func (w *Writer) PutJobRuns(ctx context.Context, started time.Time, rows []ops.JobRun) error {
	for i := range rows {
		ensureID(&rows[i].ID)
	}
	return put(ctx, w, 7, started, rows)
}

// PutRequestMetrics queues request records (the HTTP client hook's rows).
func (w *Writer) PutRequestMetrics(ctx context.Context, started time.Time, rows []ops.RequestMetric) error {
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
	prio := priority.From(ctx)
	it := item{table: table, add: func() { b.add(started, rows, prio) }}
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

// Stopping tells the writer the process is stopping: Puts no longer wait
// for room in the spool, and rows that fit nowhere are held in memory for
// the drain (which spools them, past the bound if it must) instead of
// jobs being cut off with their rows in hand. Call it when the stop
// begins, before the jobs finish; Drain follows.
func (w *Writer) Stopping() {
	w.stopOnce.Do(func() { close(w.stopping) })
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
