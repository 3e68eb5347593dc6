package writer_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

var errFull = errors.New("memory spool full")

type record struct {
	table string
	rows  any
}

// memSpool is a Spool in memory holding at most max rows (0: no limit).
type memSpool struct {
	mu          sync.Mutex
	max         int
	rows        int
	recs        []record
	quarantined []record
	reasons     []string
}

func (s *memSpool) Append(table string, rows any, limit float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := reflect.ValueOf(rows).Len()
	if s.max > 0 && float64(s.rows+n) > limit*float64(s.max) {
		return errFull
	}
	s.rows += n
	s.recs = append(s.recs, record{table, rows})
	return nil
}

func (s *memSpool) Peek(rowsOf func(string) any) (string, any, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recs) == 0 {
		return "", nil, false, nil
	}
	r := s.recs[0]
	into := reflect.ValueOf(rowsOf(r.table)).Elem() // as the disk spool decodes
	into.Set(reflect.ValueOf(r.rows))
	return r.table, into.Interface(), true, nil
}

func (s *memSpool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows -= reflect.ValueOf(s.recs[0].rows).Len()
	s.recs = s.recs[1:]
	return nil
}

func (s *memSpool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

func (s *memSpool) Usage() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max == 0 {
		return 0
	}
	return float64(s.rows) / float64(s.max)
}

func (s *memSpool) Quarantine(table string, rows any, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantined = append(s.quarantined, record{table, rows})
	s.reasons = append(s.reasons, reason)
	return nil
}

// outage is a store that is down while down is set, and otherwise records
// every ticker and job run it is given, in order.
type outage struct {
	down    atomic.Bool
	calls   atomic.Int32
	mu      sync.Mutex
	tickers []market.Ticker
	books   []market.OrderBook
	jobs    []ops.JobRun
}

var errDown = &pgconn.PgError{Code: "08006", Message: "connection failure"}

func (o *outage) Write(_ context.Context, rows tables.Rows) (store.Result, error) {
	if rows.Table() == tables.Tickers {
		o.calls.Add(1)
	}
	if o.down.Load() {
		return store.Result{}, errDown
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if ts, ok := tables.Tickers.Of(rows); ok {
		o.tickers = append(o.tickers, ts...)
	}
	if bs, ok := tables.OrderBooks.Of(rows); ok {
		o.books = append(o.books, bs...)
	}
	if js, ok := tables.JobRuns.Of(rows); ok {
		o.jobs = append(o.jobs, js...)
	}
	return store.Result{Requested: rows.Len(), Inserted: rows.Len()}, nil
}

func (o *outage) stored() []market.Ticker {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]market.Ticker(nil), o.tickers...)
}

// ticker i is one distinct ticker.
func ticker(i int) []market.Ticker {
	return []market.Ticker{{Exchange: "binance", Symbol: "BTC/USDT", Time: t0.Add(time.Duration(i) * time.Second), Last: d(fmt.Sprint(100 + i))}}
}

func tickerRange(from, to int) []market.Ticker {
	var out []market.Ticker
	for i := from; i < to; i++ {
		out = append(out, ticker(i)...)
	}
	return out
}

func fastRetry(sp writer.Spool, reg prometheus.Registerer) writer.Options {
	return writer.Options{BatchSize: 1, FlushInterval: time.Hour, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		Spool: sp, Registerer: reg}
}

func TestOutageSpoolsThenReplaysInOrder(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := &memSpool{}
	reg := prometheus.NewRegistry()
	w, err := writer.New(st, fastRetry(sp, reg))
	require.NoError(t, err)
	run(t, w, context.Background())
	ctx := context.Background()

	// The database is down: every Put returns at once, batches go to disk.
	for i := range 10 {
		require.NoError(t, w.Put(ctx, time.Now(), tables.Tickers.Rows(ticker(i))))
	}
	require.Eventually(t, func() bool { return sp.Pending() == 10 }, wait, poll)
	require.Empty(t, st.stored())
	require.Zero(t, blockedPuts(t, reg), "the intake stayed open")

	st.down.Store(false)
	require.Eventually(t, func() bool { return sp.Pending() == 0 && len(st.stored()) == 10 }, wait, poll)
	require.Equal(t, tickerRange(0, 10), st.stored(), "replayed oldest first, once")
	require.Equal(t, 10.0, counterSum(t, reg, "writer_rows_spooled_total", "table", "tickers"))
	require.Equal(t, 10.0, counterSum(t, reg, "writer_rows_replayed_total", "table", "tickers"))

	// Back to direct writes.
	require.NoError(t, w.Put(ctx, time.Now(), tables.Tickers.Rows(ticker(10))))
	require.Eventually(t, func() bool { return len(st.stored()) == 11 }, wait, poll)
	require.Equal(t, 10.0, counterSum(t, reg, "writer_rows_spooled_total", "table", "tickers"))
	require.NoError(t, w.Drain(ctx))
	require.Equal(t, tickerRange(0, 11), st.stored())
}

func TestSpoolFromEarlierRunReplaysFirst(t *testing.T) {
	st := &outage{}
	sp := &memSpool{}
	for i := range 5 {
		require.NoError(t, sp.Append("tickers", ticker(i), 1))
	}
	w, err := writer.New(st, fastRetry(sp, nil))
	require.NoError(t, err)
	run(t, w, context.Background())
	for i := 5; i < 10; i++ {
		require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(ticker(i))))
	}
	require.NoError(t, w.Drain(context.Background()))
	require.Equal(t, tickerRange(0, 10), st.stored(), "older spooled rows first, then the new ones")
	require.Zero(t, sp.Pending())
}

func TestDrainWithDatabaseDownKeepsRowsInSpool(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := &memSpool{}
	opts := fastRetry(sp, nil)
	opts.BatchSize = 100
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickerRange(0, 3))))
	require.Eventually(t, func() bool { return w.QueueDepth() == 0 }, wait, poll) // Run has it
	dctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Drain(dctx) }()
	require.Eventually(t, func() bool { return sp.Pending() == 1 }, wait, poll)
	cancel()
	require.NoError(t, <-errc, "rows on disk are not lost")
	require.NoError(t, stopped())
	_, rows, _, _ := sp.Peek(tables.NewRows)
	require.Equal(t, tickerRange(0, 3), rows)
}

func TestAbortSpoolsPendingRows(t *testing.T) {
	st := &outage{}
	sp := &memSpool{}
	opts := fastRetry(sp, nil)
	opts.BatchSize = 100
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := run(t, w, ctx)
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(tickerRange(0, 3))))
	require.Eventually(t, func() bool { return w.QueueDepth() == 0 }, wait, poll)
	cancel()
	require.NoError(t, stopped())
	require.Equal(t, 1, sp.Pending())
}

func TestOpsRowsCarryIDsBeforeSpooling(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := &memSpool{}
	w, err := writer.New(st, fastRetry(sp, nil))
	require.NoError(t, err)
	run(t, w, context.Background())
	runs := []ops.JobRun{{Job: "tickers/binance", Started: t0, Finished: t0, Outcome: "ok"}}
	rejected := []ops.RejectedRow{{Exchange: "binance", DataType: "ticker", Source: "decode", Reason: "x"}}
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.JobRuns.Rows(runs)))
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.RejectedRows.Rows(rejected)))
	require.NotEqual(t, uuid.Nil, runs[0].ID)
	require.NotEqual(t, uuid.Nil, rejected[0].ID)
	require.False(t, rejected[0].Time.IsZero(), "the time is part of the key")
	require.Eventually(t, func() bool { return sp.Pending() >= 1 }, wait, poll)
	_, rows, _, _ := sp.Peek(tables.NewRows)
	require.Equal(t, runs, rows, "spooled with the ID a replay will reuse")
	st.down.Store(false)
}

func TestRefusedBatchIsQuarantined(t *testing.T) {
	sp := &memSpool{}
	reg := prometheus.NewRegistry()
	w, err := writer.New(refusing{&outage{}}, fastRetry(sp, reg))
	require.NoError(t, err)
	run(t, w, context.Background())
	require.NoError(t, w.Put(context.Background(), time.Now(), tables.Tickers.Rows(ticker(1))))
	require.NoError(t, w.Drain(context.Background()))
	require.Equal(t, []record{{"tickers", ticker(1)}}, sp.quarantined)
	require.Zero(t, sp.Pending(), "never replayed")
	require.Equal(t, 1.0, counterSum(t, reg, "writer_rows_quarantined_total", "table", "tickers"))
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
}

// putAsync runs a Put in the background.
func putAsync(w *writer.Writer, p priority.Priority, i int) chan error {
	errc := make(chan error, 1)
	go func() {
		errc <- w.Put(priority.With(context.Background(), p), time.Now(), tables.Tickers.Rows(ticker(i)))
	}()
	return errc
}

func pausedPuts(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "writer_put_paused_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func requireWaiting(t *testing.T, errc chan error) {
	t.Helper()
	select {
	case err := <-errc:
		t.Fatalf("Put returned while it should wait: %v", err)
	default:
	}
}

func TestSpoolPressurePausesLowTiersFirst(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := &memSpool{max: 5}
	reg := prometheus.NewRegistry()
	opts := fastRetry(sp, reg)
	opts.SoftLimit = 0.6
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	run(t, w, context.Background())
	high := priority.With(context.Background(), priority.High)

	for i := range 3 {
		require.NoError(t, w.Put(high, time.Now(), tables.Tickers.Rows(ticker(i))))
	}
	require.Eventually(t, func() bool { return w.Pressure() == writer.PressureSoft }, wait, poll)

	// Soft: low and medium priority market data waits, the rest goes on.
	low := putAsync(w, priority.Low, 100)
	medium := putAsync(w, priority.Medium, 101)
	require.Eventually(t, func() bool { return pausedPuts(t, reg) == 2 }, wait, poll)
	require.NoError(t, w.Put(priority.With(context.Background(), priority.Low), time.Now(), tables.JobRuns.Rows([]ops.JobRun{{Job: "j", Started: t0, Finished: t0, Outcome: "ok"}})), "ops rows go on")
	require.NoError(t, w.Put(high, time.Now(), tables.Tickers.Rows(ticker(3))))
	requireWaiting(t, low)
	requireWaiting(t, medium)

	// Full: the spool took its fifth batch, the next does not fit.
	require.NoError(t, w.Put(high, time.Now(), tables.Tickers.Rows(ticker(4))))
	require.Eventually(t, func() bool { return w.Pressure() == writer.PressureFull }, wait, poll)
	critical := putAsync(w, priority.Critical, 102)
	require.Eventually(t, func() bool { return pausedPuts(t, reg) == 3 }, wait, poll)
	requireWaiting(t, critical)
	requireWaiting(t, low)

	// The database returns: the spool drains and everyone goes on.
	st.down.Store(false)
	for _, errc := range []chan error{low, medium, critical} {
		require.NoError(t, <-errc)
	}
	require.NoError(t, w.Drain(context.Background()))
	require.Equal(t, writer.PressureNone, w.Pressure())
	got := map[string]int{}
	for _, tk := range st.stored() {
		got[tk.Last.String()]++
	}
	require.Len(t, got, 8, "every ticker stored")
	for k, n := range got {
		require.Equal(t, 1, n, "ticker %s stored once", k)
	}
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
}

func TestPutWaitingOnPressureEndsWithContextOrDrain(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := &memSpool{max: 2}
	reg := prometheus.NewRegistry()
	opts := fastRetry(sp, reg)
	opts.SoftLimit = 0.5
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	run(t, w, context.Background())
	require.NoError(t, w.Put(priority.With(context.Background(), priority.High), time.Now(), tables.Tickers.Rows(ticker(0))))
	require.Eventually(t, func() bool { return w.Pressure() == writer.PressureSoft }, wait, poll)

	ctx, cancel := context.WithCancel(priority.With(context.Background(), priority.Low))
	errc := make(chan error, 1)
	go func() { errc <- w.Put(ctx, time.Now(), tables.Tickers.Rows(ticker(1))) }()
	require.Eventually(t, func() bool { return pausedPuts(t, reg) == 1 }, wait, poll)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	errc2 := putAsync(w, priority.Low, 2)
	require.Eventually(t, func() bool { return pausedPuts(t, reg) == 2 }, wait, poll)
	// The database stays down: the drain tries, then leaves the rows spooled.
	calls := st.calls.Load()
	dctx, dcancel := context.WithCancel(context.Background())
	drained := make(chan error, 1)
	go func() { drained <- w.Drain(dctx) }()
	require.ErrorIs(t, <-errc2, writer.ErrClosed)
	require.Eventually(t, func() bool { return st.calls.Load() > calls }, wait, poll)
	dcancel()
	require.NoError(t, <-drained)
	require.Equal(t, 1, sp.Pending())
}

func TestNewRejectsBadSoftLimit(t *testing.T) {
	_, err := writer.New(&outage{}, writer.Options{SoftLimit: 1.5})
	require.ErrorIs(t, err, writer.ErrInvalid)
}
