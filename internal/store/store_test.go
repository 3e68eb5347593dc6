package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

// newStore migrates a fresh database on backend b and opens a store on it.
func newStore(t testing.TB, b pgtest.Backend) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), b.MigratedDB(t), store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// onBackends runs test on plain PostgreSQL and on TimescaleDB (where the
// time-keyed tables are hypertables), each with a fresh store.
func onBackends(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			test(t, newStore(t, b))
		})
	}
}

func d(s string) market.Decimal { return market.MustDecimal(s) }

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// candle is the i-th 1m candle from t0.
func candle(sym string, i int, closeVal string, closed bool) market.Candle {
	return candleAt(sym, t0.Add(time.Duration(i)*time.Minute), closeVal, closed)
}

func candleAt(sym string, ts time.Time, closeVal string, closed bool) market.Candle {
	return market.Candle{Exchange: "binance", Symbol: market.Symbol(sym), Timeframe: market.TF1m,
		Time: ts, Open: d("100.10"), High: d("101.00000000"),
		Low: d("99.5"), Close: d(closeVal), Volume: d("12.345"), Closed: closed}
}

// loadConcurrently loads rows from writers goroutines at once, every other
// one in reverse order, and returns their results summed.
func loadConcurrently(t *testing.T, s *store.Store, rows []market.Candle, writers int) store.Result {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]store.Result, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := slices.Clone(rows)
			if w%2 == 1 {
				slices.Reverse(batch)
			}
			results[w], errs[w] = s.Candles(context.Background(), batch)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	var sum store.Result
	for _, r := range results {
		sum = sum.Add(r)
	}
	return sum
}

func count(t *testing.T, s *store.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func TestCandlesIdempotent(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var batch []market.Candle
		for i := range 100 {
			batch = append(batch, candle("BTC/USDT", i, "100.5", true))
		}
		r, err := s.Candles(ctx, batch)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 100, Inserted: 100}, r)

		r, err = s.Candles(ctx, batch)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 100, Duplicates: 100}, r)
		require.Equal(t, 100, count(t, s, `SELECT count(*) FROM market.candles`))

		// Duplicates inside one batch, and overlap with stored rows.
		mixed := append([]market.Candle{candle("BTC/USDT", 200, "1", true), candle("BTC/USDT", 200, "1", true)}, batch[:10]...)
		r, err = s.Candles(ctx, mixed)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 12, Inserted: 1, Duplicates: 11}, r)
		require.Equal(t, 101, count(t, s, `SELECT count(*) FROM market.candles`))

		// The exchange's digits survive.
		var high string
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT high::text FROM market.candles LIMIT 1`).Scan(&high))
		require.Equal(t, "101.00000000", high)
	})
}

func TestOpenCandleUpdatedClosedImmutable(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		closeOf := func() string {
			var c string
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT close::text FROM market.candles WHERE ts = $1`, t0).Scan(&c))
			return c
		}
		r, err := s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.1", false)})
		require.NoError(t, err)
		require.Equal(t, 1, r.Inserted)

		// The batch repeats the open candle with two values: the last wins.
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.2", false), candle("BTC/USDT", 0, "100.3", false)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 2, Updated: 1, Duplicates: 1}, r)
		require.Equal(t, "100.3", closeOf())

		// Same values again: nothing to update.
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.3", false)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 1, Duplicates: 1}, r)

		// The final version closes it.
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.4", true)})
		require.NoError(t, err)
		require.Equal(t, 1, r.Updated)
		require.Equal(t, "100.4", closeOf())

		// Closed candles are immutable, even against a late partial copy.
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "999", false), candle("BTC/USDT", 0, "998", true)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 2, Duplicates: 2}, r)
		require.Equal(t, "100.4", closeOf())
	})
}

func TestRefusedRowsGoToRejected(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		good := candle("BTC/USDT", 1, "100", true)
		noTime := candle("BTC/USDT", 2, "100", true)
		noTime.Time = time.Time{}
		farFuture := candle("BTC/USDT", 3, "100", true)
		farFuture.Time = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
		badSymbol := candle("BTC/USDT\x00", 4, "100", true)
		// Passes the Go-side guard but violates the table's CHECK: found by
		// loading the batch in halves.
		inverted := candle("BTC/USDT", 5, "100", true)
		inverted.Low, inverted.High = d("200"), d("1")

		r, err := s.Candles(ctx, []market.Candle{good, noTime, farFuture, badSymbol, inverted})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 5, Inserted: 1, Rejected: 4}, r)
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM market.candles`))
		require.Equal(t, 4, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE data_type = 'ohlcv' AND source = 'database'`))
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE reason LIKE '%no timestamp%'`))
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE reason LIKE '%out of range%'`))
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE reason LIKE '%candles_ohlc%'`))
		var payload []byte
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT payload FROM ops.rejected_rows WHERE reason LIKE '%candles_ohlc%'`).Scan(&payload))
		var kept map[string]any
		require.NoError(t, json.Unmarshal(payload, &kept))
		require.Equal(t, "1m", kept["timeframe"], "the row is kept whole")
	})
}

func TestEveryMarketTable(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tk := market.Ticker{Exchange: "kraken", Symbol: "BTC/USD", Time: t0, Bid: d("1.5"), Ask: d("1.6"), Last: d("1.55")}
		r, err := s.Tickers(ctx, []market.Ticker{tk, tk})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 2, Inserted: 1, Duplicates: 1}, r)

		ob := market.OrderBook{Exchange: "kraken", Symbol: "BTC/USD", Time: t0, Nonce: 42,
			Bids: []market.Level{{Price: d("10"), Amount: d("1")}, {Price: d("9.5"), Amount: d("2")}},
			Asks: []market.Level{{Price: d("11"), Amount: d("3")}}}
		r, err = s.OrderBooks(ctx, []market.OrderBook{ob})
		require.NoError(t, err)
		require.Equal(t, 1, r.Inserted)
		var bestBid, secondBid string
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT best_bid::text, bid_prices[2]::text FROM market.order_books`).Scan(&bestBid, &secondBid))
		require.Equal(t, []string{"10", "9.5"}, []string{bestBid, secondBid})

		tr := market.Trade{Exchange: "kraken", Symbol: "BTC/USD", ID: "7", Time: t0, Side: market.SideSell, Price: d("10"), Amount: d("0.1")}
		noID := tr
		noID.ID = ""
		r, err = s.Trades(ctx, []market.Trade{tr, tr, noID})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 3, Inserted: 1, Duplicates: 1, Rejected: 1}, r)

		m := market.Market{Exchange: "kraken", Symbol: "BTC/USD", ID: "XXBTZUSD", Base: "BTC", Quote: "USD", Active: true}
		r, err = s.Markets(ctx, []market.Market{m})
		require.NoError(t, err)
		require.Equal(t, 1, r.Inserted)
		m.Active = false
		r, err = s.Markets(ctx, []market.Market{m})
		require.NoError(t, err)
		require.Equal(t, 1, r.Updated, "a market that changed is updated")
		require.Equal(t, 0, count(t, s, `SELECT count(*) FROM market.symbols WHERE active`))
	})
}

func TestOpsTablesIdempotent(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rm := []store.RequestMetric{{Time: t0, Exchange: "binance", Endpoint: "klines", HTTPStatus: 200, Latency: 12 * time.Millisecond, Attempt: 1, Outcome: "ok"}}
		qr := []store.QualityReport{{Time: t0, Exchange: "binance", Symbol: "BTC/USDT", DataType: "ohlcv", RowsTotal: 10, Score: 0.99, Passed: true, Issues: []byte(`[{"check":"stale","count":1}]`)}}
		rj := []store.RejectedRow{{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker", Source: "decode", Reason: "truncated", Payload: []byte(`{"bid": "1`)}}
		jr := []store.JobRun{{Job: "tickers", Exchange: "binance", Started: t0, Finished: t0.Add(time.Second), Outcome: "ok", Rows: 5}}
		for range 2 { // the second write of the same rows (same IDs) adds nothing
			_, err := s.RequestMetrics(ctx, rm)
			require.NoError(t, err)
			_, err = s.QualityReports(ctx, qr)
			require.NoError(t, err)
			_, err = s.RejectedRows(ctx, rj)
			require.NoError(t, err)
			_, err = s.JobRuns(ctx, jr)
			require.NoError(t, err)
		}
		for _, tbl := range []string{"request_metrics", "quality_reports", "rejected_rows", "job_runs"} {
			require.Equal(t, 1, count(t, s, "SELECT count(*) FROM ops."+tbl), tbl)
		}
		var raw []byte
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT raw FROM ops.rejected_rows WHERE payload IS NULL`).Scan(&raw))
		require.Equal(t, `{"bid": "1`, string(raw), "a malformed payload is kept byte for byte")
	})
}

// TestConcurrentLoads: eight writers load the same keys at once, half of
// them in key order (the straight COPY, falling back to the merge when it
// meets stored keys) and half in reverse (the merge), over several chunks
// on TimescaleDB, created concurrently: no deadlock, no lost row, each key
// stored once.
func TestConcurrentLoads(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		var keys []market.Candle
		for sym := range 5 {
			for h := range 100 { // 500 hours: four 7-day chunks
				keys = append(keys, candleAt(fmt.Sprintf("S%d/USDT", sym), t0.Add(time.Duration(5*h)*time.Hour), "100", true))
			}
		}
		sum := loadConcurrently(t, s, keys, 8)
		require.Equal(t, store.Result{Requested: 8 * 500, Inserted: 500, Duplicates: 7 * 500}, sum)
		require.Equal(t, 500, count(t, s, `SELECT count(*) FROM market.candles`))
		require.Equal(t, 500, count(t, s, `SELECT count(DISTINCT (symbol, ts)) FROM market.candles`))
	})
}

func TestLargeSortedBatchLoadsInHalves(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Large enough for two concurrent halves; sorted by key.
		var batch []market.Candle
		for i := range 40_000 {
			batch = append(batch, candle("BTC/USDT", i, "100", true))
		}
		r, err := s.Candles(ctx, batch)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 40_000, Inserted: 40_000}, r)
		r, err = s.Candles(ctx, batch)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 40_000, Duplicates: 40_000}, r)
		// A refused row in the second half is isolated; the rest is stored.
		more := make([]market.Candle, 0, 40_000)
		for i := range 40_000 {
			more = append(more, candle("ETH/USDT", i, "100", true))
		}
		more[30_000].Low, more[30_000].High = d("5"), d("1")
		r, err = s.Candles(ctx, more)
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 40_000, Inserted: 39_999, Rejected: 1}, r)
		require.Equal(t, 79_999, count(t, s, `SELECT count(*) FROM market.candles`))
	})
}
