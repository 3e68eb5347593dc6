// Package writer batches rows on their way to the store: a bounded queue
// whose Put blocks when full (backpressure reaches the jobs instead of
// memory growing), one buffer per table flushed by size and by time, retry
// with backoff while the database is away, and a drain that writes what is
// queued before the process exits.
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

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// Errors.
var (
	ErrClosed       = errors.New("writer closed")
	ErrRunning      = errors.New("writer already running")
	ErrDrainTimeout = errors.New("drain deadline reached with rows unwritten")
	ErrInvalid      = errors.New("invalid writer options")
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

// Spool keeps rows the writer could not get into the database: rows still
// unwritten when the drain deadline or Run's context ends, and rows of a
// batch the database refused for a reason other than their values.
// rows is the table's slice type ([]market.Candle for Candles, ...).
//
// Seam for the disk spool of issue 6: it will also take batches while the
// database is down for long, instead of keeping the intake blocked, and
// replay them into the queue when the database is back.
type Spool interface {
	Spill(table Table, rows any) error
}

// Options configure a Writer. Zero values take the defaults.
type Options struct {
	BatchSize     int           // rows per table that trigger a flush; default 5000
	FlushInterval time.Duration // pending rows wait at most about this long; default 1s
	QueueSize     int           // batches the queue holds before Put blocks; default 64
	RetryInitial  time.Duration // first wait after a retryable failure; default 200ms
	RetryMax      time.Duration // longest wait between retries; default 30s
	Spool         Spool         // nil: unwritten rows are logged and counted as dropped
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Writer implements ingest.Sink and ingest.RejectSink. Put methods are
// safe for concurrent use; Run owns the buffers. Rows passed to Put must
// not be modified afterwards.
type Writer struct {
	st      Store
	opts    Options
	logger  *slog.Logger
	m       *metrics
	queue   chan item
	buffers []buffer

	mu       sync.Mutex
	closed   bool
	started  bool
	closing  chan struct{} // closed by Drain: Puts stop waiting
	inflight sync.WaitGroup
	drainReq chan drainRequest
	exited   chan struct{} // closed when Run returns

	// Owned by the goroutine running the loop.
	failing bool
	bo      *backoff.ExponentialBackOff
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
		drainReq: make(chan drainRequest), exited: make(chan struct{}),
	}
	w.buffers = []buffer{
		newBuf(Symbols, st.Markets), newBuf(Tickers, st.Tickers), newBuf(OrderBooks, st.OrderBooks),
		newBuf(Candles, st.Candles), newBuf(Trades, st.Trades), newBuf(QualityReports, st.QualityReports),
		newBuf(RejectedRows, st.RejectedRows), newBuf(JobRuns, st.JobRuns), newBuf(RequestMetrics, st.RequestMetrics),
	}
	w.bo = backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(opts.RetryInitial), backoff.WithMaxInterval(opts.RetryMax), backoff.WithMaxElapsedTime(0))
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(len(w.queue)) })
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
	return put(ctx, w, 5, started, rows)
}

// PutRejectedRows queues rejected rows.
func (w *Writer) PutRejectedRows(ctx context.Context, started time.Time, rows []store.RejectedRow) error {
	return put(ctx, w, 6, started, rows)
}

// PutJobRuns queues job runs (the scheduler hook's rows).
func (w *Writer) PutJobRuns(ctx context.Context, started time.Time, rows []store.JobRun) error {
	return put(ctx, w, 7, started, rows)
}

// PutRequestMetrics queues request records (the HTTP client hook's rows).
func (w *Writer) PutRequestMetrics(ctx context.Context, started time.Time, rows []store.RequestMetric) error {
	return put(ctx, w, 8, started, rows)
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
// once.
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
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	for {
		in := w.queue
		if w.failing {
			in = nil // hold the intake: Puts block instead of memory growing
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
			if !w.failing {
				w.afterFlush(w.flushAll(ctx), retry)
			}
		case <-retry.C:
			w.afterFlush(w.flushAll(ctx), retry)
		case req := <-w.drainReq:
			err := w.drain(req.ctx)
			req.done <- err
			return err
		case <-ctx.Done():
			n := w.abandon()
			if n > 0 {
				return fmt.Errorf("stopped with %d rows unwritten: %w", n, ctx.Err())
			}
			return nil
		}
	}
}

// afterFlush arms the retry timer after a retryable failure.
func (w *Writer) afterFlush(err error, retry *time.Timer) {
	if err == nil {
		if w.failing {
			w.logger.Info("database writes recovered")
		}
		w.failing = false
		w.bo.Reset()
		return
	}
	wait := w.bo.NextBackOff()
	if !w.failing {
		w.logger.Warn("database write failed, keeping rows and retrying", "retry_in", wait, "err", err)
	}
	w.failing = true
	retry.Reset(wait)
}

// flushAll flushes every non-empty buffer; it stops at the first retryable
// failure and returns it.
func (w *Writer) flushAll(ctx context.Context) error {
	for _, b := range w.buffers {
		if err := w.flush(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// flush writes one buffer. A retryable error keeps the rows and is
// returned; a permanent one hands them to the spool (or drops them) and
// returns nil so the other tables go on.
func (w *Writer) flush(ctx context.Context, b buffer) error {
	if b.len() == 0 {
		return nil
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
		w.m.rows.WithLabelValues(table, "inserted").Add(float64(res.Inserted))
		w.m.rows.WithLabelValues(table, "updated").Add(float64(res.Updated))
		w.m.rows.WithLabelValues(table, "duplicate").Add(float64(res.Duplicates))
		w.m.rows.WithLabelValues(table, "rejected").Add(float64(res.Rejected))
	case ctx.Err() != nil:
		// Stopping, not the rows' fault: keep them for the drain or the spool.
		return fmt.Errorf("writing %s: %w", table, err)
	case store.Retryable(err):
		w.m.flushErrors.WithLabelValues(table, "retryable").Inc()
		return fmt.Errorf("writing %s: %w", table, err)
	default:
		w.m.flushErrors.WithLabelValues(table, "permanent").Inc()
		w.logger.Error("database refused a batch", "table", table, "rows", b.len(), "err", err)
		w.unwritten(b)
	}
	w.m.pending.WithLabelValues(table).Set(float64(b.len()))
	return nil
}

// unwritten hands a buffer's rows to the spool, or drops them loudly.
func (w *Writer) unwritten(b buffer) int {
	n, rows := b.len(), b.take()
	if n == 0 {
		return 0
	}
	table := string(b.name())
	w.m.pending.WithLabelValues(table).Set(0)
	if w.opts.Spool != nil {
		err := w.opts.Spool.Spill(b.name(), rows)
		if err == nil {
			w.m.spilled.WithLabelValues(table).Add(float64(n))
			return n
		}
		w.logger.Error("spooling rows failed", "table", table, "rows", n, "err", err)
	}
	w.m.dropped.WithLabelValues(table).Add(float64(n))
	w.logger.Error("rows dropped unwritten", "table", table, "rows", n)
	return n
}

// abandon takes everything still queued or pending out of the writer.
func (w *Writer) abandon() int {
	w.takeQueued()
	n := 0
	for _, b := range w.buffers {
		n += w.unwritten(b)
	}
	return n
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

// drain writes everything queued and pending, retrying until ctx ends.
// The intake is closed and no Put is in flight when it runs.
func (w *Writer) drain(ctx context.Context) error {
	w.takeQueued()
	w.bo.Reset()
	for {
		err := w.flushAll(ctx)
		if err == nil {
			w.logger.Info("writer drained")
			return nil
		}
		t := time.NewTimer(w.bo.NextBackOff())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n := w.abandon()
			return fmt.Errorf("%w: %d rows (last error: %w)", ErrDrainTimeout, n, err)
		}
	}
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

// QueueDepth returns the batches waiting in the queue (for /status).
func (w *Writer) QueueDepth() int { return len(w.queue) }

// buffer is one table's pending rows.
type buffer interface {
	name() Table
	len() int
	flush(ctx context.Context) (store.Result, []time.Time, error)
	take() any
}

type buf[T any] struct {
	table  Table
	rows   []T
	starts []time.Time // one per Put, for latency
	write  func(context.Context, []T) (store.Result, error)
}

func newBuf[T any](table Table, write func(context.Context, []T) (store.Result, error)) *buf[T] {
	return &buf[T]{table: table, write: write}
}

func (b *buf[T]) name() Table { return b.table }
func (b *buf[T]) len() int    { return len(b.rows) }

func (b *buf[T]) add(started time.Time, rows []T) {
	b.rows = append(b.rows, rows...)
	b.starts = append(b.starts, started)
}

// flush writes the rows; on error they stay for the next attempt (the
// store assigns IDs in place, so a retried batch stays idempotent).
func (b *buf[T]) flush(ctx context.Context) (store.Result, []time.Time, error) {
	res, err := b.write(ctx, b.rows)
	if err != nil {
		return res, nil, err
	}
	starts := b.starts
	b.rows, b.starts = nil, nil
	return res, starts, nil
}

func (b *buf[T]) take() any {
	rows := b.rows
	b.rows, b.starts = nil, nil
	return rows
}
