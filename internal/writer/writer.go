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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
)

// Errors.
var (
	ErrClosed       = errors.New("writer closed")
	ErrRunning      = errors.New("writer already running")
	ErrDrainTimeout = errors.New("drain deadline reached with rows unwritten")
	ErrInvalid      = errors.New("invalid writer options")
	// errStillSpooling: the drain's flush went to the spool, not the database.
	errStillSpooling = errors.New("database unreachable, rows spooled")
	errNoRoom        = errors.New("rows do not fit in the spool")
)

// Store is what the writer needs of *store.Store.
type Store interface {
	Write(ctx context.Context, rows tables.Rows) (store.Result, error)
}

// Spool is the disk buffer for outages (*spool.Spool): Append must be
// durable when it returns nil and fail (spool.ErrFull) when the spool
// would then use more than limit of its bound (limit may exceed 1:
// math.Inf(1) means no bound); Peek returns the oldest batch until Ack
// drops it, decoded into what rowsOf returns for its table (tables.NewRows).
// rows is the table's slice type ([]market.Candle for "candles", ...).
type Spool interface {
	Append(table string, rows any, limit float64) error
	Peek(rowsOf func(table string) any) (table string, rows any, ok bool, err error)
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
	BatchSize     int           // rows per table that trigger a flush; default config.DefaultBatchSize
	FlushInterval time.Duration // pending rows wait at most about this long; default config.DefaultFlushInterval
	QueueSize     int           // batches the queue holds before Put blocks; default config.DefaultQueueSize
	RetryInitial  time.Duration // first wait after a retryable failure; default 200ms
	RetryMax      time.Duration // longest wait between retries; default 30s
	Spool         Spool         // nil: rows wait in memory while the database is away
	SoftLimit     float64       // spool usage from which low tiers wait; default 0.8
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Writer implements ingest.Sink: one buffer per table of tables.All,
// keyed by its descriptor. Put is safe for concurrent use; Run owns the
// buffers. Rows passed to Put must
// not be modified afterwards (Put assigns the IDs of ops rows in place, so
// a batch spooled and replayed twice stays one set of rows).
type Writer struct {
	st      Store
	opts    Options
	logger  *slog.Logger
	m       *metrics
	queue   chan item
	buffers []*buffer // one per table, in tables.All's order
	byTable map[tables.Descriptor]*buffer
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
	spooling bool             // flushes go to the spool: it holds batches, or the database failed
	held     bool             // rows that must go on can go nowhere: the intake stops
	waiting  bool             // low-tier rows wait in memory for room below the soft limit
	stuck    map[*buffer]bool // buffers whose last flush left rows in memory
	armed    bool             // the retry timer is set
	bo       *backoff.ExponentialBackOff
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
	def(&opts.BatchSize, config.DefaultBatchSize)
	def(&opts.QueueSize, config.DefaultQueueSize)
	defDur(&opts.FlushInterval, config.DefaultFlushInterval)
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
		sp: opts.Spool, stuck: map[*buffer]bool{}, byTable: map[tables.Descriptor]*buffer{},
	}
	for _, t := range tables.All {
		b := &buffer{table: t}
		w.buffers = append(w.buffers, b)
		w.byTable[t] = b
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

// Spooled returns the batches waiting in the spool (for /status).
func (w *Writer) Spooled() int {
	if w.sp == nil {
		return 0
	}
	return w.sp.Pending()
}

// QueueDepth returns the batches waiting in the queue (for /status).
func (w *Writer) QueueDepth() int { return len(w.queue) }
