package warehousetest

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// sqlRun is one execution of a file of sql/ with psql variables and a check
// of its (last) result beyond "it returned rows".
type sqlRun struct {
	vars  map[string]string
	check func(t *testing.T, d dataset, r result)
}

// testVars are the -v values of a run: the seeded range and one stream.
func testVars(d dataset, extra ...string) map[string]string {
	v := map[string]string{
		"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m", "bucket": "1 hour",
		"from": d.base.Format(time.RFC3339), "to": d.base.Add(4 * time.Hour).Format(time.RFC3339),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v[extra[i]] = extra[i+1]
	}
	return v
}

// sqlRuns lists the checked runs per file. Every file of sql/ also runs
// with no variables at all (the defaults of sql/defaults.psql) and with
// testVars, and must return rows both times.
func sqlRuns(d dataset) map[string][]sqlRun {
	return map[string][]sqlRun{
		"candles_resampled.sql": {
			{testVars(d), checkResampled},
			{testVars(d, "exchange", "kraken", "symbol", "ETH/USDT", "bucket", "30 minutes"), func(t *testing.T, _ dataset, r result) {
				require.Len(t, r.rows, 6)
				var total int
				for _, row := range r.rows {
					n, err := strconv.Atoi(get(t, row, "candles"))
					require.NoError(t, err)
					total += n
				}
				require.Equal(t, minutes-gapLen, total, "the gap's candles are missing")
				requireNum(t, "25", get(t, r.rows[3], "candles"), "minutes 90..119 hold the gap 100..104")
			}},
		},
		"vwap.sql":             {{testVars(d), checkVWAP}},
		"price_dispersion.sql": {{testVars(d), checkDispersion("10", minutes)}, {testVars(d, "symbol", "ETH/USDT"), checkDispersion("1", minutes-gapLen-gap2Len)}},
		"top_of_book.sql":      {{testVars(d), checkTopOfBook}},
		"spreads.sql":          {{testVars(d), checkSpreads}},
		"log_returns.sql":      {{testVars(d), checkLogReturns}},
		"freshness.sql":        {{testVars(d), checkFreshness}},
		"candle_gaps.sql": {
			{testVars(d), func(t *testing.T, d dataset, r result) {
				require.Len(t, r.rows, 1)
				require.Equal(t, "ETH/USDT", get(t, r.rows[0], "symbol"))
				requireTime(t, d.base.Add(gap2From*time.Minute), get(t, r.rows[0], "missing_from"))
				requireNum(t, strconv.Itoa(gap2Len), get(t, r.rows[0], "missing"))
			}},
			{testVars(d, "exchange", "kraken"), func(t *testing.T, d dataset, r result) {
				require.Len(t, r.rows, 1)
				row := r.rows[0]
				require.Equal(t, "ETH/USDT", get(t, row, "symbol"))
				requireTime(t, d.base.Add(gapFrom*time.Minute), get(t, row, "missing_from"))
				requireTime(t, d.base.Add((gapFrom+gapLen-1)*time.Minute), get(t, row, "missing_to"))
				requireNum(t, strconv.Itoa(gapLen), get(t, row, "missing"))
			}},
		},
		"request_errors.sql": {{testVars(d), checkRequestErrors}},
		"request_errors_by_category.sql": {{testVars(d), func(t *testing.T, _ dataset, r result) {
			got := map[string]string{}
			for _, row := range r.rows {
				status := "none"
				if v := row["http_status"]; v != nil {
					status = *v
				}
				key := get(t, row, "exchange") + " " + status + " " + get(t, row, "error_category") + " " + get(t, row, "endpoint")
				got[key] = get(t, row, "attempts")
			}
			// binance 429s at i%20 == 0 spread over endpoints i%3; 503s at
			// i = 7, 32, 57, 82; kraken network errors at i = 0, 30.
			require.Equal(t, map[string]string{
				"binance 429 rate_limited ohlcv": "2", "binance 429 rate_limited ticker": "1", "binance 429 rate_limited orderbook": "2",
				"binance 503 server ticker": "2", "binance 503 server orderbook": "1", "binance 503 server ohlcv": "1",
				"kraken none network ohlcv": "2",
			}, got)
		}}},
		"quality_over_time.sql": {{testVars(d), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 3*4*2, "3 hours x 4 streams x 2 data types")
			sums := sumColumns(t, r, "reports", "failed", "rows_rejected")
			require.Equal(t, map[string]int{"reports": 96, "failed": 16, "rows_rejected": 48}, sums)
		}}},
		"rejected_rows.sql": {{testVars(d), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 2, "grouped by code, not by the reasons' values")
			require.Equal(t, "ohlc_relation", get(t, r.rows[0], "code"))
			require.Equal(t, "ohlc_relation: low 3 > high 1", get(t, r.rows[0], "latest_reason"))
			requireNum(t, "2", get(t, r.rows[0], "rows"))
			require.JSONEq(t, `{"ts": 1700000000000, "high": "1", "low": "2"}`, get(t, r.rows[0], "latest_payload"))
		}}},
		"job_runs.sql": {{testVars(d), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 4)
			for _, row := range r.rows {
				requireNum(t, "12", get(t, row, "runs"))
				if get(t, row, "job") == "ohlcv" && get(t, row, "exchange") == "kraken" {
					requireNum(t, "1", get(t, row, "errors"))
					require.Equal(t, "fetching ohlcv: HTTP 503", get(t, row, "last_error"))
				} else {
					requireNum(t, "0", get(t, row, "errors"))
					require.Nil(t, row["last_error"])
				}
			}
		}}},
		"backfill_progress.sql": {{testVars(d, "exchange", "kraken"), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 1)
			require.Equal(t, "f", get(t, r.rows[0], "done"))
			requireNum(t, "50", get(t, r.rows[0], "pct"))
		}}},
		"backfill_coverage.sql": {{testVars(d), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 1)
			requireNum(t, "1", get(t, r.rows[0], "requests"), "only the window inside the range")
			requireNum(t, "0", get(t, r.rows[0], "empty_requests"))
			requireNum(t, "180", get(t, r.rows[0], "rows"))
		}}, {testVars(d, "from", "-infinity"), func(t *testing.T, _ dataset, r result) {
			require.Len(t, r.rows, 1)
			requireNum(t, "4", get(t, r.rows[0], "requests"))
			requireNum(t, "1", get(t, r.rows[0], "empty_requests"))
			requireNum(t, "6900", get(t, r.rows[0], "rows"))
		}}},
	}
}

// queryFiles lists the query files of sql/ (views.sql is DDL, checked by
// checkViews).
func queryFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "sql", "*.sql"))
	require.NoError(t, err)
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "views.sql" })
	require.NotEmpty(t, files)
	return files
}

func checkSQLFiles(t *testing.T, conn *pgx.Conn, d dataset) {
	runs := sqlRuns(d)
	seen := map[string]bool{}
	for _, path := range queryFiles(t) {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			requireHeaderComment(t, path)
			cases := append([]sqlRun{{vars: map[string]string{}}, {vars: testVars(d)}}, runs[name]...)
			for i, c := range cases {
				sql, err := expandPsql(path, c.vars)
				require.NoError(t, err)
				results := execAll(t, conn, sql)
				require.NotEmpty(t, results, "run %d returned no result", i)
				for _, r := range results {
					require.NotEmpty(t, r.rows, "run %d with %v returned no rows", i, c.vars)
				}
				if c.check != nil {
					c.check(t, d, results[len(results)-1])
				}
			}
		})
	}
	for name := range runs {
		require.True(t, seen[name], "checks for %s, which is not in sql/", name)
	}
}

// requireHeaderComment: each file starts by saying what it does.
func requireHeaderComment(t *testing.T, path string) {
	t.Helper()
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitN(string(text), "\n", 3)
	require.GreaterOrEqual(t, len(lines), 2)
	require.True(t, strings.HasPrefix(lines[0], "-- ") && strings.HasPrefix(lines[1], "--"),
		"%s must open with a comment saying what it does", path)
}

func checkResampled(t *testing.T, d dataset, r result) {
	s := streams()[0] // binance BTC/USDT
	require.Len(t, r.rows, 3)
	for h, row := range r.rows {
		first, last := s.candle(60*h), s.candle(60*h+59)
		requireTime(t, d.base.Add(time.Duration(h)*time.Hour), get(t, row, "bucket"))
		requireNum(t, dec(first.open), get(t, row, "open"), "open", h)
		requireNum(t, dec(last.close), get(t, row, "close"), "close", h)
		requireNum(t, dec(last.high), get(t, row, "high"), "high", h)
		requireNum(t, dec(first.low), get(t, row, "low"), "low", h)
		requireNum(t, "72", get(t, row, "volume"), "12 x (1.0 + 1.1 + 1.2 + 1.3 + 1.4)", h)
		requireNum(t, "60", get(t, row, "candles"))
	}
}

func checkVWAP(t *testing.T, d dataset, r result) {
	// Expected: per exchange and hour, sum(p*a)/sum(a) of the seeded trades.
	type key struct {
		hour     time.Time
		exchange string
	}
	num, den := map[key]*big.Rat{}, map[key]*big.Rat{}
	for _, s := range streams() {
		if s.symbol != "BTC/USDT" {
			continue
		}
		for i := range tradesPer {
			tr := s.trade(d.base, i)
			k := key{tr.ts.Truncate(time.Hour), s.exchange}
			if num[k] == nil {
				num[k], den[k] = new(big.Rat), new(big.Rat)
			}
			num[k].Add(num[k], new(big.Rat).Mul(tr.price, tr.amount))
			den[k].Add(den[k], tr.amount)
		}
	}
	require.Len(t, r.rows, len(num))
	for _, row := range r.rows {
		g, err := time.Parse("2006-01-02 15:04:05-07", get(t, row, "bucket"))
		require.NoError(t, err)
		k := key{g.UTC(), get(t, row, "exchange")}
		require.Contains(t, num, k)
		requireNear(t, new(big.Rat).Quo(num[k], den[k]), get(t, row, "vwap"), k)
		requireNum(t, "10", get(t, row, "trades"))
	}
}

func checkDispersion(wantRange string, wantRows int) func(*testing.T, dataset, result) {
	return func(t *testing.T, _ dataset, r result) {
		require.Len(t, r.rows, wantRows)
		for _, row := range r.rows {
			requireNum(t, "2", get(t, row, "exchanges"))
			requireNum(t, wantRange, get(t, row, "price_range"))
			require.Equal(t, "binance", get(t, row, "cheapest"))
			require.Equal(t, "kraken", get(t, row, "dearest"))
		}
	}
}

func checkTopOfBook(t *testing.T, d dataset, r result) {
	require.Len(t, r.rows, 2)
	row := r.rows[0]
	require.Equal(t, "binance", get(t, row, "exchange"))
	last := minutes - 5 // the newest snapshot
	c := streams()[0].candle(last)
	requireTime(t, d.base.Add(time.Duration(last)*time.Minute+15*time.Second), get(t, row, "book_ts"))
	requireNum(t, dec(new(big.Rat).Sub(c.close, rat("0.25"))), get(t, row, "best_bid"))
	requireNum(t, "0.5", get(t, row, "book_spread"))
	requireNum(t, "1", get(t, row, "ticker_spread"))
	requireNum(t, "3.5", get(t, row, "bid_depth"))
	requireNum(t, "4.7", get(t, row, "ask_depth"))
	require.Equal(t, "kraken", get(t, r.rows[1], "exchange"))
}

func checkSpreads(t *testing.T, _ dataset, r result) {
	require.Len(t, r.rows, 3*2*2, "3 hours x 2 exchanges x 2 sources")
	for _, row := range r.rows {
		want := map[string]string{"order_book": "0.5", "ticker": "1"}[get(t, row, "source")]
		require.NotEmpty(t, want)
		requireNum(t, want, get(t, row, "avg_spread"))
		requireNum(t, "12", get(t, row, "snapshots"))
		requireNum(t, "0", get(t, row, "crossed"))
	}
}

func checkLogReturns(t *testing.T, _ dataset, r result) {
	require.Len(t, r.rows, minutes)
	require.Nil(t, r.rows[0]["log_return"], "the first candle has no previous close")
	s := streams()[0]
	c0, _ := s.candle(0).close.Float64()
	c1, _ := s.candle(1).close.Float64()
	got, err := strconv.ParseFloat(get(t, r.rows[1], "log_return"), 64)
	require.NoError(t, err)
	require.InDelta(t, math.Log(c1/c0), got, 1e-12)
	cn, _ := s.candle(minutes - 1).close.Float64()
	got, err = strconv.ParseFloat(get(t, r.rows[minutes-1], "cumulative_log_return"), 64)
	require.NoError(t, err)
	require.InDelta(t, math.Log(cn/c0), got, 1e-12)
}

func checkFreshness(t *testing.T, d dataset, r result) {
	require.Len(t, r.rows, 4*4, "4 stored series x 4 data types; markets only listed are left out")
	for _, row := range r.rows {
		require.NotEqual(t, listedOnly, get(t, row, "symbol"))
	}
	latest := map[string]time.Time{
		"ohlcv":     d.base.Add((minutes - 1) * time.Minute),
		"ticker":    d.base.Add((minutes-5)*time.Minute + 10*time.Second),
		"orderbook": d.base.Add((minutes-5)*time.Minute + 15*time.Second),
		"trades":    d.base.Add((6*(tradesPer-1))*time.Minute + 30*time.Second),
	}
	for _, row := range r.rows {
		dt := get(t, row, "data_type")
		requireTime(t, latest[dt], get(t, row, "latest"), dt)
		age, err := strconv.ParseFloat(get(t, row, "age_seconds"), 64)
		require.NoError(t, err)
		require.InDelta(t, time.Since(latest[dt]).Seconds(), age, 120)
	}
	require.Equal(t, "trades", get(t, r.rows[0], "data_type"), "stalest first: the last trade is the oldest newest row")
}

func checkRequestErrors(t *testing.T, _ dataset, r result) {
	per := map[string]map[string]int{}
	for _, row := range r.rows {
		ex := get(t, row, "exchange")
		if per[ex] == nil {
			per[ex] = map[string]int{}
		}
		for _, col := range []string{"attempts", "failed", "rate_limited", "server_errors"} {
			n, err := strconv.Atoi(get(t, row, col))
			require.NoError(t, err)
			per[ex][col] += n
		}
	}
	require.Equal(t, map[string]map[string]int{
		"binance": {"attempts": 100, "failed": 9, "rate_limited": 5, "server_errors": 4},
		"kraken":  {"attempts": 60, "failed": 2, "rate_limited": 0, "server_errors": 0},
	}, per)
}

func sumColumns(t *testing.T, r result, cols ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, row := range r.rows {
		for _, c := range cols {
			n, err := strconv.Atoi(get(t, row, c))
			require.NoError(t, err, c)
			out[c] += n
		}
	}
	return out
}

var createView = regexp.MustCompile(`(?m)^CREATE OR REPLACE VIEW ([a-z_]+\.[a-z_0-9]+)`)

// checkViews applies sql/views.sql twice (it must be re-runnable), reads
// every view it creates and compares the resampling function with the
// hourly aggregate of the migrations and with the seeded candles.
func checkViews(t *testing.T, conn *pgx.Conn, d dataset) {
	path := filepath.Join(repoRoot(t), "sql", "views.sql")
	requireHeaderComment(t, path)
	sql, err := expandPsql(path, map[string]string{})
	require.NoError(t, err)
	execAll(t, conn, sql)
	execAll(t, conn, sql)

	views := createView.FindAllStringSubmatch(sql, -1)
	require.NotEmpty(t, views)
	for _, v := range views {
		r := execAll(t, conn, "SELECT * FROM "+v[1]+" LIMIT 10")
		require.NotEmpty(t, r[0].rows, v[1])
	}

	from, to := d.base.Format(time.RFC3339), d.base.Add(4*time.Hour).Format(time.RFC3339)
	r := execAll(t, conn, fmt.Sprintf(`SELECT * FROM market.resample_candles('binance', 'BTC/USDT', '1 hour', '%s', '%s')`, from, to))
	checkResampled(t, d, r[0])
	r = execAll(t, conn, fmt.Sprintf(`SELECT bucket, open, high, low, close, volume, candles FROM market.candles_1h
		WHERE exchange = 'binance' AND symbol = 'BTC/USDT' AND bucket >= '%s' ORDER BY bucket`, from))
	checkResampled(t, d, r[0])

	r = execAll(t, conn, `SELECT * FROM ops.backfill_status ORDER BY exchange`)
	require.Len(t, r[0].rows, 2)
	requireNum(t, "100", get(t, r[0].rows[0], "pct"))
	requireNum(t, "50", get(t, r[0].rows[1], "pct"))

	r = execAll(t, conn, `SELECT sum(attempts) AS attempts, sum(rate_limited) AS rate_limited FROM ops.request_stats_hourly WHERE exchange = 'binance'`)
	requireNum(t, "100", get(t, r[0].rows[0], "attempts"))
	requireNum(t, "5", get(t, r[0].rows[0], "rate_limited"))

	r = execAll(t, conn, `SELECT count(*) AS n FROM ops.data_freshness`)
	requireNum(t, "16", get(t, r[0].rows[0], "n"))

	r = execAll(t, conn, `SELECT spread, spread_bps FROM market.top_of_book WHERE exchange = 'kraken' AND symbol = 'ETH/USDT' LIMIT 1`)
	requireNum(t, "0.05", get(t, r[0].rows[0], "spread"))
}
