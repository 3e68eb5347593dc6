package reliabilitytest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

const (
	wait = 45 * time.Second
	poll = 20 * time.Millisecond
)

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func d(s string) market.Decimal { return market.MustDecimal(s) }

// batch i: 5 candles, 5 tickers, 5 trades and one job run, all with keys
// of their own, and prices with digits that must survive exactly.
func batch(i int) ([]market.Candle, []market.Ticker, []market.Trade, []ops.JobRun) {
	var cs []market.Candle
	var ts []market.Ticker
	var trs []market.Trade
	for j := range 5 {
		k := 5*i + j
		at := t0.Add(time.Duration(k) * time.Minute)
		p := d(fmt.Sprintf("%d.%08d", 60000+k, k))
		cs = append(cs, market.Candle{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: at,
			Open: p, High: p, Low: p, Close: p, Volume: d("1.50000000"), Closed: true})
		ts = append(ts, market.Ticker{Exchange: "binance", Symbol: "BTC/USDT", Time: at, Bid: p, Ask: p, Last: p})
		trs = append(trs, market.Trade{Exchange: "binance", Symbol: "BTC/USDT", ID: fmt.Sprint(k), Time: at,
			Side: market.SideBuy, Price: p, Amount: d("0.001")})
	}
	jr := []ops.JobRun{{Job: fmt.Sprintf("feed/%d", i), Exchange: "binance", Started: t0.Add(time.Duration(i) * time.Second),
		Finished: t0.Add(time.Duration(i) * time.Second), Outcome: "ok", Rows: 15}}
	return cs, ts, trs, jr
}

// feeder puts batches through w, as the jobs would, until stopped.
type feeder struct {
	w        *writer.Writer
	produced atomic.Int64 // batches whose every Put returned nil
	stop     chan struct{}
	done     chan error
}

func feed(w *writer.Writer) *feeder {
	f := &feeder{w: w, stop: make(chan struct{}), done: make(chan error, 1)}
	ctx := priority.With(context.Background(), priority.High)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				f.done <- nil
				return
			case <-tick.C:
			}
			cs, ts, trs, jr := batch(i)
			now := time.Now()
			for _, err := range []error{w.Put(ctx, now, tables.Candles.Rows(cs)), w.Put(ctx, now, tables.Tickers.Rows(ts)), w.Put(ctx, now, tables.Trades.Rows(trs)),
				w.Put(ctx, now, tables.JobRuns.Rows(jr))} {
				if err != nil {
					f.done <- fmt.Errorf("batch %d: %w", i, err)
					return
				}
			}
			f.produced.Add(1)
		}
	}()
	return f
}

func (f *feeder) halt() (int, error) {
	close(f.stop)
	err := <-f.done
	return int(f.produced.Load()), err
}

// TestDatabaseOutage: PostgreSQL stops (fast shutdown, connections cut)
// while rows keep coming; they go to the disk spool, the intake stays
// open, and once the server is back everything produced is stored, once,
// with the exact values.
func TestDatabaseOutage(t *testing.T) { onBothBackends(t, testDatabaseOutage) }

func testDatabaseOutage(t *testing.T, timescale bool) {
	c := newCluster(t, timescale)
	st := c.openStore(t)
	db := c.db(t)
	reg := prometheus.NewRegistry()
	sp, err := spool.Open(t.TempDir(), spool.Options{MaxBytes: 256 << 20, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	w, err := writer.New(st, writer.Options{BatchSize: 100, FlushInterval: 50 * time.Millisecond,
		RetryInitial: 20 * time.Millisecond, RetryMax: 250 * time.Millisecond, Spool: sp, Registerer: reg})
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background()) }()

	f := feed(w)
	stopped := false
	defer func() {
		if !stopped {
			_, _ = f.halt()
		}
	}()
	candles := func() int { return count(t, db, `SELECT count(*) FROM market.candles`) }
	require.Eventually(t, func() bool { return candles() >= 200 }, wait, poll, "rows reach the database")

	c.stop()
	atStop := f.produced.Load()
	// The feed goes on while the server is down: batches land in the spool.
	require.Eventually(t, func() bool { return sp.Pending() >= 50 && f.produced.Load() >= atStop+1000 }, wait, poll,
		"ingestion continues during the outage")
	require.Equal(t, writer.PressureNone, w.Pressure())

	c.start()
	require.Eventually(t, func() bool { return sp.Pending() == 0 }, wait, poll, "the spool is replayed")
	n, err := f.halt()
	stopped = true
	require.NoError(t, err)

	dctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, w.Drain(dctx))
	require.NoError(t, <-runErr)

	// Everything produced is stored, once.
	require.Equal(t, 5*n, count(t, db, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 5*n, count(t, db, `SELECT count(*) FROM market.tickers`))
	require.Equal(t, 5*n, count(t, db, `SELECT count(*) FROM market.trades`))
	require.Equal(t, n, count(t, db, `SELECT count(*) FROM ops.job_runs`))
	require.Equal(t, n, count(t, db, `SELECT count(DISTINCT job) FROM ops.job_runs`), "no job run twice")
	// The keys are exactly the produced ones, with the exact digits.
	want := map[time.Time]string{}
	for i := range n {
		cs, _, _, _ := batch(i)
		for _, c := range cs {
			want[c.Time] = c.Close.String() + " " + c.Volume.String()
		}
	}
	rows, err := db.Query(context.Background(), `SELECT ts, close::text || ' ' || volume::text FROM market.candles`)
	require.NoError(t, err)
	got := map[time.Time]string{}
	for rows.Next() {
		var ts time.Time
		var v string
		require.NoError(t, rows.Scan(&ts, &v))
		got[ts.UTC()] = v
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, got)
	require.Zero(t, count(t, db, `SELECT count(*) FROM market.trades WHERE trade_id::int >= $1`, 5*n))
	require.Positive(t, metricValue(t, reg, "spool_records_replayed_total"))
	require.Positive(t, metricValue(t, reg, "writer_rows_replayed_total"))
	require.Zero(t, metricValue(t, reg, "writer_rows_dropped_total"))
	t.Logf("%d batches produced, %.0f spooled batches replayed, spool high water %.0f bytes", n,
		metricValue(t, reg, "spool_records_replayed_total"), metricValue(t, reg, "spool_bytes_high_water"))
}

var metricMu sync.Mutex

// metricValue sums the samples of a counter or gauge family.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	metricMu.Lock()
	defer metricMu.Unlock()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}
