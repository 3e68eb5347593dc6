package writer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	wait = 20 * time.Second
	poll = 10 * time.Millisecond
)

// newStore opens a store on a fresh database, and the test's own pool on
// it to look at what was stored.
func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.MigratedDB(t)
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, pgtest.Pool(t, url)
}

func count(t *testing.T, db *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func d(s string) market.Decimal { return market.MustDecimal(s) }

func candles(n, from int) []market.Candle {
	out := make([]market.Candle, n)
	for i := range out {
		out[i] = market.Candle{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m,
			Time: t0.Add(time.Duration(from+i) * time.Minute), Open: d("100"), High: d("101"), Low: d("99"),
			Close: d("100.5"), Volume: d("3"), Closed: true}
	}
	return out
}

func tickers(n int) []market.Ticker {
	out := make([]market.Ticker, n)
	for i := range out {
		out[i] = market.Ticker{Exchange: "binance", Symbol: "BTC/USDT", Time: t0.Add(time.Duration(i) * time.Second),
			Bid: d("100"), Ask: d("101"), Last: d("100.5")}
	}
	return out
}

// run starts w.Run and returns a function that waits for it.
func run(t *testing.T, w *writer.Writer, ctx context.Context) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	wait := func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(wait):
				err = errors.New("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() {
		// Bounded: a test that leaves the database down must not hang here.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Drain(ctx)
		_ = wait()
	})
	return wait
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func TestRowsEndUpStored(t *testing.T) {
	s, db := newStore(t)
	reg := prometheus.NewRegistry()
	// Batches by size: two candle batches of 3 reach BatchSize 5.
	w, err := writer.New(s, writer.Options{BatchSize: 5, FlushInterval: time.Hour, Registerer: reg})
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	ctx := context.Background()
	started := time.Now()

	require.NoError(t, w.Put(ctx, started, tables.Candles.Rows(candles(3, 0))))
	require.NoError(t, w.Put(ctx, started, tables.Candles.Rows(candles(3, 3))))
	require.Eventually(t, func() bool { return count(t, db, `SELECT count(*) FROM market.candles`) == 6 }, wait, poll)

	// Smaller batches wait for the drain (the flush interval is an hour).
	require.NoError(t, w.Put(ctx, started, tables.Tickers.Rows(tickers(2))))
	require.NoError(t, w.Put(ctx, started, tables.Symbols.Rows([]market.Market{{Exchange: "binance", ID: "BTCUSDT", Symbol: "BTC/USDT", Base: "BTC", Quote: "USDT", Active: true}})))
	require.NoError(t, w.Put(ctx, started, tables.QualityReports.Rows([]ops.QualityReport{{Time: started, Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker", RowsTotal: 2, Score: 1, Passed: true}})))
	require.NoError(t, w.Put(ctx, started, tables.RejectedRows.Rows([]ops.RejectedRow{{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker", Source: "validation", Reason: "crossed_book: bid 102 > ask 101", Payload: []byte(`{"bid":102}`)}})))
	require.NoError(t, w.Put(ctx, started, tables.RejectedRows.Rows([]ops.RejectedRow{{Exchange: "binance", DataType: "ticker", Source: "decode", Reason: "truncated", Payload: []byte(`{"bid":`)}})))
	require.NoError(t, w.Put(ctx, started, tables.JobRuns.Rows([]ops.JobRun{{Job: "tickers/binance", Exchange: "binance", Started: started, Finished: time.Now(), Outcome: "ok", Rows: 2}})))
	require.NoError(t, w.Put(ctx, started, tables.RequestMetrics.Rows([]ops.RequestMetric{{Time: started, Exchange: "binance", Endpoint: "ticker", HTTPStatus: 200, Latency: time.Millisecond, Attempt: 1, Outcome: "ok"}})))
	require.Equal(t, 0, count(t, db, `SELECT count(*) FROM market.tickers`))

	dctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, w.Drain(dctx))
	require.NoError(t, stopped())

	for table, want := range map[string]int{
		"market.candles": 6, "market.tickers": 2, "market.symbols": 1, "ops.quality_reports": 1,
		"ops.rejected_rows": 2, "ops.job_runs": 1, "ops.request_metrics": 1,
	} {
		require.Equal(t, want, count(t, db, `SELECT count(*) FROM `+table), table)
	}
	require.Equal(t, 1, count(t, db, `SELECT count(*) FROM ops.rejected_rows WHERE source = 'decode' AND raw IS NOT NULL`))
	require.Equal(t, 1, count(t, db, `SELECT count(*) FROM ops.rejected_rows WHERE source = 'validation' AND payload->>'bid' = '102'`))

	require.ErrorIs(t, w.Put(ctx, started, tables.Tickers.Rows(tickers(1))), writer.ErrClosed)
	require.Equal(t, uint64(9), histogramCount(t, reg, "writer_batch_latency_seconds"), "one observation per Put")
	require.Equal(t, 8.0, counterSum(t, reg, "writer_rows_total", "table", "candles")+counterSum(t, reg, "writer_rows_total", "table", "tickers"))
}

func TestFlushByTime(t *testing.T) {
	s, db := newStore(t)
	w, err := writer.New(s, writer.Options{BatchSize: 1000, FlushInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	run(t, w, context.Background())
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickers(3))))
	require.Eventually(t, func() bool { return count(t, db, `SELECT count(*) FROM market.tickers`) == 3 }, wait, poll)
}

// flaky fails its first Tickers call with a connection error, then passes
// calls to the real store.
type flaky struct {
	writer.Store
	calls atomic.Int32
}

func (f *flaky) Write(ctx context.Context, rows tables.Rows) (store.Result, error) {
	if rows.Table() == tables.Tickers && f.calls.Add(1) == 1 {
		return store.Result{}, &pgconn.PgError{Code: "08006", Message: "connection failure"}
	}
	return f.Store.Write(ctx, rows)
}

func TestRetryOnRetryableError(t *testing.T) {
	s, db := newStore(t)
	reg := prometheus.NewRegistry()
	st := &flaky{Store: s}
	w, err := writer.New(st, writer.Options{BatchSize: 1, FlushInterval: time.Hour, RetryInitial: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	run(t, w, context.Background())
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickers(4))))
	require.Eventually(t, func() bool { return count(t, db, `SELECT count(*) FROM market.tickers`) == 4 }, wait, poll)
	require.Equal(t, int32(2), st.calls.Load(), "the same batch, written again")
	require.Equal(t, 1.0, counterSum(t, reg, "writer_flush_errors_total", "kind", "retryable"))
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
}

// blocking holds every Tickers call until released.
type blocking struct {
	entered chan struct{}
	release chan struct{}
	rows    atomic.Int64
}

func (b *blocking) Write(ctx context.Context, rows tables.Rows) (store.Result, error) {
	b.entered <- struct{}{}
	<-b.release
	b.rows.Add(int64(rows.Len()))
	return store.Result{Requested: rows.Len(), Inserted: rows.Len()}, nil
}

func TestBackpressureBlocksWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &blocking{entered: make(chan struct{}, 10), release: make(chan struct{})}
	w, err := writer.New(st, writer.Options{BatchSize: 1, QueueSize: 1, FlushInterval: time.Hour, Registerer: reg})
	require.NoError(t, err)
	run(t, w, context.Background())
	ctx := context.Background()

	require.NoError(t, w.Put(ctx, time.Now(), tables.Tickers.Rows(tickers(1)))) // taken by the loop, now writing
	<-st.entered
	require.NoError(t, w.Put(ctx, time.Now(), tables.Tickers.Rows(tickers(1)))) // fills the queue
	require.Equal(t, 1, w.QueueDepth())

	// A Put on a full queue waits; its context bounds the wait.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Put(cctx, time.Now(), tables.Tickers.Rows(tickers(1))) }()
	require.Eventually(t, func() bool { return blockedPuts(t, reg) == 1 }, wait, poll)
	select {
	case err := <-errc:
		t.Fatalf("Put returned while the queue was full: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	// A waiting Put goes through once the store catches up.
	go func() { errc <- w.Put(ctx, time.Now(), tables.Tickers.Rows(tickers(1))) }()
	require.Eventually(t, func() bool { return blockedPuts(t, reg) == 2 }, wait, poll)
	close(st.release)
	require.NoError(t, <-errc)
	require.NoError(t, w.Drain(ctx))
	require.Equal(t, int64(3), st.rows.Load())
}

func blockedPuts(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "writer_put_blocked_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// down fails every write with a retryable error.
type down struct {
	calls chan struct{}
}

func (d *down) Write(context.Context, tables.Rows) (store.Result, error) {
	select {
	case d.calls <- struct{}{}:
	default:
	}
	return store.Result{}, &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}
}

func TestDrainDeadlineWithoutSpoolDropsLoudly(t *testing.T) {
	st := &down{calls: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	w, err := writer.New(st, writer.Options{BatchSize: 1000, FlushInterval: time.Hour, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickers(5))))
	require.Eventually(t, func() bool { return w.QueueDepth() == 0 }, wait, poll) // Run has it

	dctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Drain(dctx) }()
	<-st.calls // the drain is retrying against a database that is down
	cancel()
	err = <-errc
	require.ErrorIs(t, err, writer.ErrDrainTimeout)
	require.ErrorContains(t, err, "5 rows")
	require.NoError(t, stopped(), "the drain's error is Drain's to report, once: Run does not return it again")
	require.Equal(t, 5.0, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
}

// refusing fails Tickers with a permanent error: the rows' own data (a
// class 22 error the store could not isolate).
type refusing struct{ writer.Store }

func (r refusing) Write(ctx context.Context, rows tables.Rows) (store.Result, error) {
	if rows.Table() != tables.Tickers {
		return r.Store.Write(ctx, rows)
	}
	return store.Result{}, &pgconn.PgError{Code: "22P02", Message: "invalid input syntax for type numeric"}
}

func TestPermanentErrorDoesNotBlockOtherTables(t *testing.T) {
	s, db := newStore(t)
	reg := prometheus.NewRegistry()
	w, err := writer.New(refusing{s}, writer.Options{BatchSize: 1, FlushInterval: time.Hour, Registerer: reg})
	require.NoError(t, err)
	run(t, w, context.Background())
	ctx := context.Background()
	require.NoError(t, w.Put(ctx, time.Now(), tables.Tickers.Rows(tickers(2))))
	require.NoError(t, w.Put(ctx, time.Now(), tables.Candles.Rows(candles(2, 0))))
	require.NoError(t, w.Drain(ctx))
	require.Equal(t, 2, count(t, db, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 2.0, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
}

func TestDrainWithoutRun(t *testing.T) {
	s, db := newStore(t)
	w, err := writer.New(s, writer.Options{})
	require.NoError(t, err)
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickers(2))))
	require.NoError(t, w.Drain(context.Background()))
	require.Equal(t, 2, count(t, db, `SELECT count(*) FROM market.tickers`))
	require.ErrorIs(t, w.Run(context.Background()), writer.ErrClosed)
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := writer.New(nil, writer.Options{})
	require.ErrorIs(t, err, writer.ErrInvalid)
	_, err = writer.New(&down{}, writer.Options{BatchSize: -1})
	require.ErrorIs(t, err, writer.ErrInvalid)
}

// A closed candle that comes again with other values is counted as a
// conflict, not a duplicate (issue 11 §4).
func TestConflictsCounted(t *testing.T) {
	s, db := newStore(t)
	reg := prometheus.NewRegistry()
	w, err := writer.New(s, writer.Options{BatchSize: 3, FlushInterval: time.Hour, Registerer: reg})
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	ctx := context.Background()
	require.NoError(t, w.Put(ctx, time.Now(), tables.Candles.Rows(candles(3, 0))))
	other := candles(3, 0)
	for i := range other {
		other[i].Close = d("100.25")
	}
	require.NoError(t, w.Put(ctx, time.Now(), tables.Candles.Rows(other)))
	require.Eventually(t, func() bool {
		return count(t, db, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict'`) == 3
	}, wait, poll)
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	require.NoError(t, w.Drain(dctx))
	require.NoError(t, stopped())
	require.Equal(t, 3.0, counterSum(t, reg, "writer_rows_total", "result", "conflict"))
	require.Equal(t, 0.0, counterSum(t, reg, "writer_rows_total", "result", "duplicate"))
}
