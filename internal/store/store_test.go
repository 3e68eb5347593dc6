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

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
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
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "999", false)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 1, Duplicates: 1}, r, "a partial copy of a final candle says nothing new")
		require.Equal(t, "100.4", closeOf())

		// A final version with other values is a conflict: kept out, and
		// recorded (the batch's last copy of the key is the one judged).
		r, err = s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "999", false), candle("BTC/USDT", 0, "998", true)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 2, Duplicates: 1, Conflicts: 1}, r)
		require.Equal(t, "100.4", closeOf())
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict'`))
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
		require.Equal(t, 4, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE data_type = 'ohlcv' AND source = 'database' AND code = 'db_refused'`))
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
		rm := []ops.RequestMetric{{Time: t0, Exchange: "binance", Endpoint: "klines", HTTPStatus: 200, Latency: 12 * time.Millisecond, Attempt: 1, Outcome: "ok"}}
		qr := []ops.QualityReport{{Time: t0, Exchange: "binance", Symbol: "BTC/USDT", DataType: "ohlcv", RowsTotal: 10, Score: 0.99, Passed: true, Issues: []byte(`[{"check":"stale","count":1}]`)}}
		rj := []ops.RejectedRow{{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker", Source: "decode", Reason: "truncated", Payload: []byte(`{"bid": "1`)}}
		jr := []ops.JobRun{{Job: "tickers", Exchange: "binance", Started: t0, Finished: t0.Add(time.Second), Outcome: "ok", Rows: 5}}
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
		require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'decode'`), "a row without a code gets its source's")
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

// Large batches in key order: two halves at once into a hypertable, one
// COPY on plain PostgreSQL; the same results either way.
func TestLargeSortedBatch(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s := newStore(t, b)
			ctx := context.Background()
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
}

// Issue 11 §4: 50,000 closed candles loaded again with other prices were
// reported as "0 updated, 50000 duplicates" and the new values vanished
// without a trace. They are conflicts: the stored values stay, and each
// conflict is kept with both versions.
func TestConflictsAreNotDuplicates(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s := newStore(t, b)
			ctx := context.Background()
			const n = 50_000
			first := make([]market.Candle, n)
			other := make([]market.Candle, n)
			for i := range n {
				first[i] = candle("BTC/USDT", i, "100.5", true)
				other[i] = candle("BTC/USDT", i, "100.75", true)
			}
			r, err := s.Candles(ctx, first)
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: n, Inserted: n}, r)

			r, err = s.Candles(ctx, other)
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: n, Conflicts: n}, r)
			require.Equal(t, n, count(t, s, `SELECT count(*) FROM market.candles WHERE close = 100.5`), "the stored values are kept")
			require.Equal(t, n, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict' AND data_type = 'ohlcv'`))

			var reason string
			var payload []byte
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT reason, payload FROM ops.rejected_rows
				WHERE code = 'conflict' AND payload->'incoming'->'ohlcv'->>0 = $1`, fmt.Sprint(t0.Add(7*time.Minute).UnixMilli())).Scan(&reason, &payload))
			require.Contains(t, reason, "close 100.5 → 100.75")
			var kept struct {
				Timeframe string `json:"timeframe"`
				Stored    struct {
					Closed bool  `json:"closed"`
					OHLCV  []any `json:"ohlcv"`
				} `json:"stored"`
				Incoming struct {
					OHLCV []any `json:"ohlcv"`
				} `json:"incoming"`
			}
			require.NoError(t, json.Unmarshal(payload, &kept))
			require.Equal(t, "1m", kept.Timeframe)
			require.True(t, kept.Stored.Closed)
			require.Equal(t, []any{float64(t0.Add(7 * time.Minute).UnixMilli()), 100.1, 101.0, 99.5, 100.5, 12.345}, kept.Stored.OHLCV)
			require.Equal(t, 100.75, kept.Incoming.OHLCV[4])

			// The same rows again: duplicates, not new conflicts.
			r, err = s.Candles(ctx, first)
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: n, Duplicates: n}, r)
			require.Equal(t, n, count(t, s, `SELECT count(*) FROM ops.rejected_rows`))
		})
	}
}

// A duplicate is the same number, not the same text: "100.50" is 100.5.
func TestSameValueOtherScaleIsDuplicate(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.5", true)})
		require.NoError(t, err)
		r, err := s.Candles(ctx, []market.Candle{candle("BTC/USDT", 0, "100.50", true)})
		require.NoError(t, err)
		require.Equal(t, store.Result{Requested: 1, Duplicates: 1}, r)
	})
}

func TestMixedBatch(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s := newStore(t, b)
			ctx := context.Background()
			_, err := s.Candles(ctx, []market.Candle{
				candle("BTC/USDT", 1, "100", true), candle("BTC/USDT", 2, "100", false), candle("BTC/USDT", 3, "100", true),
				candle("ETH/USDT", 1, "100", true),
			})
			require.NoError(t, err)
			// Out of order and across series: new (0, 4, ETH 2), same (1, ETH 1),
			// changed while open (2), conflict (3), repeated in the batch (4).
			r, err := s.Candles(ctx, []market.Candle{
				candle("ETH/USDT", 2, "100", true), candle("BTC/USDT", 4, "100", true), candle("BTC/USDT", 3, "101", true),
				candle("BTC/USDT", 2, "100.5", true), candle("BTC/USDT", 1, "100", true), candle("BTC/USDT", 0, "100", true),
				candle("ETH/USDT", 1, "100", true), candle("BTC/USDT", 4, "100", true),
			})
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: 8, Inserted: 3, Updated: 1, Duplicates: 3, Conflicts: 1}, r)
			require.Equal(t, 7, count(t, s, `SELECT count(*) FROM market.candles`))
			require.Equal(t, 1, count(t, s, `SELECT count(*) FROM market.candles WHERE closed AND close = 100.5`))
			require.Equal(t, 1, count(t, s, `SELECT count(*) FROM market.candles WHERE ts = $1 AND symbol = 'BTC/USDT' AND close = 100`, t0.Add(3*time.Minute)))
		})
	}
}

func TestTradeConflicts(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s := newStore(t, b)
			ctx := context.Background()
			trade := func(id string, price string, side market.Side) market.Trade {
				return market.Trade{Exchange: "kraken", Symbol: "BTC/USD", ID: id, Time: t0.Add(time.Duration(len(id)) * time.Second),
					Side: side, Price: d(price), Amount: d("0.1")}
			}
			// Ids that sort differently as text and as numbers.
			first := []market.Trade{trade("9", "10", market.SideBuy), trade("10", "11", market.SideUnknown), trade("100", "12", market.SideSell)}
			r, err := s.Trades(ctx, first)
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: 3, Inserted: 3}, r)
			r, err = s.Trades(ctx, []market.Trade{trade("100", "12", market.SideSell), trade("9", "10", market.SideSell),
				trade("10", "11.0", market.SideUnknown), trade("11", "13", market.SideBuy)})
			require.NoError(t, err)
			require.Equal(t, store.Result{Requested: 4, Inserted: 1, Duplicates: 2, Conflicts: 1}, r)
			var reason string
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT reason FROM ops.rejected_rows WHERE code = 'conflict' AND data_type = 'trades'`).Scan(&reason))
			require.Contains(t, reason, "side buy → sell")
			require.Equal(t, 1, count(t, s, `SELECT count(*) FROM market.trades WHERE trade_id = '9' AND side = 'buy'`))
		})
	}
}

// Migration 5 gives the rejected rows written before it the code their
// source and reason imply.
func TestRejectedRowsCodeMigration(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.MigratedDB(t)
			m, err := schema.Open(ctx, url, schema.ModeAuto, nil)
			require.NoError(t, err)
			defer m.Close()
			require.NoError(t, m.To(3), "the schema before migration 5")
			conn, err := pgx.Connect(ctx, url)
			require.NoError(t, err)
			defer conn.Close(ctx)
			for i, r := range [][2]string{
				{"decode", "unexpected end of JSON input"},
				{"database", "database refused: ERROR: new row violates check constraint"},
				{"validation", "crossed_book: bid 101 > ask 100"},
				{"validation", "ohlc_inconsistent: low 200 > open 100"},
				{"validation", "future_timestamp: 1h0m0s ahead of now (tolerance 10s)"},
				{"import", "low > high"},
				{"import", `open: invalid decimal: "x"`},
				{"import", "ts 2024-01-01T00:03:30Z is not aligned to 1m"},
				{"import", "volume must be >= 0"},
				{"import", "csv: bare \" in non-quoted-field"},
				{"elsewhere", "something"},
			} {
				_, err := conn.Exec(ctx, `INSERT INTO ops.rejected_rows (id, ts, exchange, symbol, data_type, source, reason)
					VALUES (gen_random_uuid(), now() - make_interval(secs => $1), 'binance', 'BTC/USDT', 'ohlcv', $2, $3)`, i, r[0], r[1])
				require.NoError(t, err)
			}
			require.NoError(t, m.Up())
			var codes []string
			rows, err := conn.Query(ctx, `SELECT code FROM ops.rejected_rows ORDER BY ts DESC`)
			require.NoError(t, err)
			codes, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.Equal(t, []string{"decode", "db_refused", "crossed_book", "ohlc_relation", "future_time", "ohlc_relation",
				"decode", "misaligned_timestamp", "invalid_value", "decode", "unclassified"}, codes)
		})
	}
}

// An import hands TimescaleDB batches of one part, as long as its parts are
// anyway, each within one chunk range of market.candles (a week, from the
// Unix epoch); plain PostgreSQL gets batches of 50,000 rows, where COPYs
// take turns and each batch's probe and commits are on their one stream's
// path, cut by size only.
func TestBulkLoadBatches(t *testing.T) {
	ctx := context.Background()
	ts := store.New(pgtest.Pool(t, pgtest.TimescaleMigratedDB(t)), nil)
	require.Equal(t, 16<<10, ts.BulkBatchRows(ctx))
	at := ts.CandleRange(ctx)
	require.NotNil(t, at)
	week := 7 * 24 * time.Hour
	start := time.Unix(0, 0).UTC().Add(2800 * week)
	require.Equal(t, at(start), at(start.Add(week-time.Microsecond)))
	require.Equal(t, at(start)+1, at(start.Add(week)))

	pg := store.New(pgtest.Pool(t, pgtest.MigratedDB(t)), nil)
	require.Equal(t, 50_000, pg.BulkBatchRows(ctx))
	require.Nil(t, pg.CandleRange(ctx))
}
