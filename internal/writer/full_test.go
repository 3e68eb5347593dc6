package writer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

// These tests use the real disk spool, bounded in bytes.

const smallSpool = 64 << 10

func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{MaxBytes: smallSpool})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// A batch larger than the whole spool, while the database is down: it is
// spooled in parts up to the bound (it used to be refused whole, forever).
// Nothing is lost, and once the database is back every row is stored once,
// in order.
func TestBatchLargerThanSpoolIsSpooledInParts(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	sp := openSpool(t, t.TempDir())
	reg := prometheus.NewRegistry()
	opts := fastRetry(sp, reg)
	opts.BatchSize = 10_000
	opts.FlushInterval = 20 * time.Millisecond
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	run(t, w, context.Background())
	high := priority.With(context.Background(), priority.High)

	big := tickerRange(0, 2000)
	require.NoError(t, w.Put(high, time.Now(), tables.Tickers.Rows(big)))
	require.Eventually(t, func() bool { return sp.Pending() > 0 }, wait, poll, "parts of the batch are spooled")
	require.Eventually(t, func() bool { return w.Pressure() == writer.PressureFull }, wait, poll)
	require.Greater(t, sp.Usage(), 0.9, "the spool is filled, not left empty")
	require.LessOrEqual(t, sp.Usage(), 1.0, "within its bound")

	st.down.Store(false)
	require.Eventually(t, func() bool { return len(st.stored()) == len(big) }, wait, poll)
	require.NoError(t, w.Drain(context.Background()))
	require.Equal(t, big, st.stored(), "every row once, in order")
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
	require.Equal(t, writer.PressureNone, w.Pressure())
}

// A low-tier batch larger than the free space pauses the low tiers only:
// it is spooled in parts up to the soft limit, the rest waits in memory,
// and the realtime tier still spools into the room above. A stop in that
// state (database still down) drops nothing: what did not fit is spooled
// past the bound, the drain says so, and the next start stores it all.
func TestFullSpoolPausesLowTiersFirstAndDropsNothing(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	dir := t.TempDir()
	sp := openSpool(t, dir)
	reg := prometheus.NewRegistry()
	opts := fastRetry(sp, reg)
	opts.BatchSize = 10_000
	opts.FlushInterval = 20 * time.Millisecond
	opts.SoftLimit = 0.5
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	low := priority.With(context.Background(), priority.Low)

	backlog := tickerRange(0, 6000) // more than the whole spool
	require.NoError(t, w.Put(low, time.Now(), tables.Tickers.Rows(backlog)))
	require.Eventually(t, func() bool { return sp.Pending() > 0 && w.Pressure() == writer.PressureSoft }, wait, poll,
		"parts spooled up to the soft limit; the low tiers pause (pressure %s, %d spooled)", w.Pressure(), sp.Pending())
	require.Less(t, sp.Usage(), 0.7, "the room above the soft limit is left for the tiers that go on")

	// The realtime tier goes on, into the room above.
	before := sp.Pending()
	book := []market.OrderBook{{Exchange: "binance", Symbol: "BTC/USDT", Time: t0,
		Bids: []market.Level{{Price: d("100"), Amount: d("1")}}, Asks: []market.Level{{Price: d("101"), Amount: d("2")}}}}
	critical := make(chan error, 1)
	go func() {
		critical <- w.Put(priority.With(context.Background(), priority.Critical), time.Now(), tables.OrderBooks.Rows(book))
	}()
	select {
	case err := <-critical:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("a realtime Put waited behind the low tiers' backlog")
	}
	require.Eventually(t, func() bool { return sp.Pending() > before }, wait, poll, "the realtime row is spooled")
	require.Equal(t, writer.PressureSoft, w.Pressure())
	lowPut := putAsync(w, priority.Low, 9000)
	require.Eventually(t, func() bool { return pausedPuts(t, reg) >= 1 }, wait, poll)
	requireWaiting(t, lowPut)

	// SIGTERM, the database still down: nothing is dropped.
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = w.Drain(dctx)
	require.ErrorIs(t, err, writer.ErrDrainTimeout, "rows that did not fit make the stop fail")
	require.ErrorContains(t, err, "kept past store.spool_max_bytes")
	require.ErrorIs(t, <-lowPut, writer.ErrClosed)
	require.NoError(t, stopped())
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
	require.Positive(t, counterSum(t, reg, "writer_rows_spooled_past_bound_total", "table", "tickers"))
	require.NoError(t, sp.Close())

	// The next start, the database back: every row stored, none twice.
	st.down.Store(false)
	sp2 := openSpool(t, dir)
	w2, err := writer.New(st, fastRetry(sp2, nil))
	require.NoError(t, err)
	run(t, w2, context.Background())
	require.NoError(t, w2.Drain(context.Background()))
	got := map[string]int{}
	for _, tk := range st.stored() {
		got[tk.Last.String()]++
	}
	for _, tk := range backlog {
		require.Equal(t, 1, got[tk.Last.String()], "ticker %s stored once", tk.Last)
	}
	require.Len(t, got, len(backlog))
	require.Equal(t, book, st.books)
	require.Zero(t, sp2.Pending())
}

// A connection cut mid-COPY (a proxy closing it cleanly) sends the batch
// to the spool and, once the connection is back, to the database: never
// to the quarantine.
func TestConnectionCutMidCopyIsSpooledNotQuarantined(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.MigratedDB(t)
	proxy := pgtest.NewProxy(t, dbURL)
	s, err := store.Open(ctx, proxy.URL(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	reg := prometheus.NewRegistry()
	w, err := writer.New(s, writer.Options{BatchSize: 5000, FlushInterval: time.Hour, RetryInitial: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, Spool: sp, Registerer: reg})
	require.NoError(t, err)
	run(t, w, ctx)

	proxy.CutAfter(128 << 10)
	var batches [][]market.Candle
	for i := range 4 {
		b := candles(5000, 5000*i)
		batches = append(batches, b)
		require.NoError(t, w.Put(ctx, time.Now(), tables.Candles.Rows(b)))
	}
	require.Eventually(t, func() bool { return proxy.Cuts() > 0 && sp.Pending() > 0 }, wait, poll, "cut mid-COPY, spooled")
	proxy.CutAfter(0)
	require.NoError(t, w.Drain(ctx))
	require.Equal(t, 20_000, count(t, pgtest.Pool(t, dbURL), `SELECT count(*) FROM market.candles`))
	require.Zero(t, sp.Quarantined(), "healthy rows are never quarantined")
	require.Zero(t, counterSum(t, reg, "writer_rows_quarantined_total", "table", "candles"))
	require.Zero(t, sp.Pending())
	require.NotEmpty(t, fmt.Sprint(batches))
}

// At a stop, jobs waiting for room in a full spool hand their rows over
// instead of being cut off with them (they used to fail with "writer
// closed"): the drain keeps them, past the spool's bound if it must.
func TestStoppingTakesTheRowsJobsHold(t *testing.T) {
	st := &outage{}
	st.down.Store(true)
	dir := t.TempDir()
	sp := openSpool(t, dir)
	reg := prometheus.NewRegistry()
	opts := fastRetry(sp, reg)
	opts.BatchSize = 10_000
	opts.FlushInterval = 20 * time.Millisecond
	w, err := writer.New(st, opts)
	require.NoError(t, err)
	stopped := run(t, w, context.Background())
	critical := priority.With(context.Background(), priority.Critical)
	require.NoError(t, w.Put(critical, time.Now(), tables.Tickers.Rows(tickerRange(0, 3000))))
	require.Eventually(t, func() bool { return w.Pressure() == writer.PressureFull }, wait, poll)
	waiting := putAsync(w, priority.Critical, 5000)
	require.Eventually(t, func() bool { return pausedPuts(t, reg) >= 1 }, wait, poll)
	requireWaiting(t, waiting)

	w.Stopping()
	require.NoError(t, <-waiting, "the job's rows are taken")
	dctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.ErrorIs(t, w.Drain(dctx), writer.ErrDrainTimeout)
	require.NoError(t, stopped())
	require.Zero(t, counterSum(t, reg, "writer_rows_dropped_total", "table", "tickers"))
	require.NoError(t, sp.Close())

	st.down.Store(false)
	sp2 := openSpool(t, dir)
	w2, err := writer.New(st, fastRetry(sp2, nil))
	require.NoError(t, err)
	run(t, w2, context.Background())
	require.NoError(t, w2.Drain(context.Background()))
	require.Equal(t, append(tickerRange(0, 3000), ticker(5000)...), st.stored(), "every row, once, in order")
}
