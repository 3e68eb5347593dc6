package warehousetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
)

// bulkSeries fills a TimescaleDB test database with enough rows for the
// planner to show its hand: 4 exchanges x 4 symbols with 3 days of 1m
// candles and 2 days of 30 s tickers, order books on two exchanges only
// and trades on three (so some series lack a data type), and a market
// listed by every exchange that was never ingested. Written in SQL: the
// loader's path is covered by the seeded dataset; this one is only volume.
func bulkSeries(t *testing.T, conn *pgx.Conn) int64 {
	t.Helper()
	execAll(t, conn, `
INSERT INTO market.symbols (exchange, symbol, exchange_symbol, base, quote, active)
SELECT 'ex' || e, s || '/USDT', s || 'USDT', s, 'USDT', true
FROM generate_series(1, 4) e, unnest(ARRAY['BTC', 'ETH', 'SOL', 'XRP', 'LISTED']) s;

INSERT INTO market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed)
SELECT 'ex' || e, s || '/USDT', '1m', g, 100, 101, 99, 100, 1, true
FROM generate_series(1, 4) e, unnest(ARRAY['BTC', 'ETH', 'SOL', 'XRP']) s,
     generate_series(date_trunc('minute', now()) - INTERVAL '3 days', date_trunc('minute', now()) - INTERVAL '1 minute', INTERVAL '1 minute') g;

INSERT INTO market.tickers (exchange, symbol, ts, bid, ask, last)
SELECT 'ex' || e, s || '/USDT', g, 99, 101, 100
FROM generate_series(1, 4) e, unnest(ARRAY['BTC', 'ETH', 'SOL', 'XRP']) s,
     generate_series(now() - INTERVAL '2 days', now() - INTERVAL '10 seconds', INTERVAL '30 seconds') g;

INSERT INTO market.order_books (exchange, symbol, ts, best_bid, best_ask, bid_prices, bid_amounts, ask_prices, ask_amounts)
SELECT 'ex' || e, s || '/USDT', g, 99, 101, '{99}', '{1}', '{101}', '{1}'
FROM generate_series(1, 2) e, unnest(ARRAY['BTC', 'ETH', 'SOL', 'XRP']) s,
     generate_series(now() - INTERVAL '1 day', now() - INTERVAL '20 seconds', INTERVAL '1 minute') g;

INSERT INTO market.trades (exchange, symbol, ts, trade_id, price, amount, side)
SELECT 'ex' || e, s || '/USDT', g, extract(epoch FROM g)::text, 100, 1, 'buy'
FROM generate_series(1, 3) e, unnest(ARRAY['BTC', 'ETH', 'SOL', 'XRP']) s,
     generate_series(now() - INTERVAL '1 day', now() - INTERVAL '5 seconds', INTERVAL '30 seconds') g;

ANALYZE market.symbols, market.candles, market.tickers, market.order_books, market.trades;`)
	r := execAll(t, conn, `SELECT (SELECT count(*) FROM market.candles) + (SELECT count(*) FROM market.tickers)
		+ (SELECT count(*) FROM market.order_books) + (SELECT count(*) FROM market.trades) AS n`)
	var n int64
	require.NoError(t, json.Unmarshal([]byte(get(t, r[0].rows[0], "n")), &n))
	return n
}

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) read here.
type planNode struct {
	NodeType       string     `json:"Node Type"`
	Provider       string     `json:"Custom Plan Provider"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedFilter  float64    `json:"Rows Removed by Filter"`
	RemovedRecheck float64    `json:"Rows Removed by Index Recheck"`
	Plans          []planNode `json:"Plans"`
}

// explain runs sql under EXPLAIN ANALYZE and returns how many rows its
// table scans touched (returned or filtered out, over every loop) and how
// many SkipScan nodes it used.
func explain(t *testing.T, conn *pgx.Conn, sql string) (touched float64, skipScans int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var raw []byte
	require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql).Scan(&raw), sql)
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Len(t, doc, 1)
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan":
			touched += (n.ActualRows + n.RemovedFilter + n.RemovedRecheck) * n.ActualLoops
		case "Custom Scan":
			if n.Provider == "SkipScan" {
				skipScans++
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return touched, skipScans
}

// TestDashboardQueriesStayCheap checks on TimescaleDB that the queries
// which list stored series (the symbol variable, the freshness table) read
// a small part of the hypertables rather than every row in their window:
// the series come from SkipScans, and each newest-row lookup stops at its
// first row (or, for a series without that data type, at a primary-key
// probe).
func TestDashboardQueriesStayCheap(t *testing.T) {
	url := pgtest.TimescaleDB(t)
	migrate(t, url, schema.TimescaleDB)
	conn := connect(t, url)
	rows := bulkSeries(t, conn)
	require.Greater(t, rows, int64(200_000))

	dashboards := loadDashboards(t)
	now := time.Now()
	env := grafanaEnv{from: now.Add(-6 * time.Hour), to: now, interval: time.Minute, timescale: true,
		vars: map[string]varValue{"exchange": {values: []string{"ex1", "ex2", "ex3", "ex4"}, multi: true}}}

	var symbolQuery string
	for _, v := range dashboards["market-overview.json"].Templating.List {
		if v.Name == "symbol" {
			q, err := v.queryText()
			require.NoError(t, err)
			symbolQuery = q
		}
	}
	freshness := findPanel(t, dashboards["coverage.json"], "Data freshness").Targets[0].RawSQL
	for name, raw := range map[string]string{"symbol variable": symbolQuery, "freshness": freshness} {
		t.Run(name, func(t *testing.T) {
			sql, err := env.expand(raw)
			require.NoError(t, err)
			r := execAll(t, conn, sql)
			require.NotEmpty(t, r[0].rows)
			for _, row := range r[0].rows {
				require.NotEqual(t, "LISTED/USDT", get(t, row, "symbol"), "a market never ingested")
			}
			touched, skips := explain(t, conn, strings.TrimSpace(sql))
			require.GreaterOrEqual(t, skips, 2, "candles and tickers are listed by SkipScan")
			require.Less(t, touched, float64(rows)/50, "%.0f of %d rows touched:\n%s", touched, rows, sql)
		})
	}
}
