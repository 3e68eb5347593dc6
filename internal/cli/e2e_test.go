package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
)

// replayConfig serves exchange-replay in-process and writes a config file
// pointing every exchange at it.
func replayConfig(t *testing.T) string {
	t.Helper()
	h, err := replay.New(replay.Options{Fixtures: os.DirFS("../../testdata/replay"), RateLimits: map[string]bool{"kraken": false}})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "mdingest.yaml")
	var y string
	for _, ex := range []string{"binance", "kraken", "kucoin", "htx", "okx", "bybit", "coinbaseexchange", "bitstamp"} {
		y += fmt.Sprintf("  %s: {enabled: true, base_url: %q}\n", ex, srv.URL+"/"+ex)
	}
	require.NoError(t, os.WriteFile(path, []byte("exchanges:\n"+y), 0o600))
	return path
}

func TestFetchPrintsCCXTShapes(t *testing.T) {
	cfg := replayConfig(t)
	code, out, stderr := runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", "ticker")
	require.Equal(t, ExitOK, code, stderr)
	var ticker map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ticker))
	for _, k := range []string{"symbol", "timestamp", "datetime", "bid", "ask", "last", "high", "low", "open", "close", "baseVolume", "quoteVolume"} {
		require.Contains(t, ticker, k)
	}
	require.Equal(t, "BTC/USDT", ticker["symbol"])

	code, out, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "kraken", "--symbol", "BTC/USDT", "--kind", "ohlcv", "--limit", "3")
	require.Equal(t, ExitOK, code, stderr)
	var ohlcv [][]json.Number
	require.NoError(t, json.Unmarshal([]byte(out), &ohlcv))
	require.Len(t, ohlcv, 3)
	require.Len(t, ohlcv[0], 6)

	code, out, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "okx", "--kind", "markets")
	require.Equal(t, ExitOK, code, stderr)
	var markets []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &markets))
	require.NotEmpty(t, markets)
	for _, k := range []string{"id", "symbol", "base", "quote", "active"} {
		require.Contains(t, markets[0], k)
	}

	code, _, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "binance", "--kind", "ticker")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "--symbol")
}

func TestFetchStoreBackfillGapsQualityStatus(t *testing.T) {
	cfg := replayConfig(t)
	url := pgtest.NewDB(t)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", url)
	require.Equal(t, ExitOK, code, stderr)
	db := []string{"--config", cfg, "--database-url", url}

	code, _, stderr = runCLI(t, nil, append(db, "fetch", "--exchange", "kucoin", "--symbol", "ETH/USDT", "--kind", "trades", "--store")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stderr, "stored:")

	to := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	from := to.Add(-3 * time.Hour)
	args := append(db, "backfill", "--exchange", "binance", "--symbols", "BTC/USDT,ETH/USDT", "--timeframe", "1m",
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	code, out, stderr := runCLI(t, nil, args...)
	require.Equal(t, ExitOK, code, stderr)
	require.NotEmpty(t, out)

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	count := func(sql string) int {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), sql).Scan(&n))
		return n
	}
	require.Equal(t, 2*180, count(`SELECT count(*) FROM market.candles WHERE exchange = 'binance'`))
	require.Positive(t, count(`SELECT count(*) FROM market.trades WHERE exchange = 'kucoin'`))
	require.Positive(t, count(`SELECT count(*) FROM ops.request_metrics WHERE exchange = 'kucoin'`))

	// Remove an hour, find it, fill it.
	_, err = conn.Exec(context.Background(), `DELETE FROM market.candles WHERE symbol = 'ETH/USDT' AND ts >= $1 AND ts < $2`, from.Add(time.Hour), from.Add(2*time.Hour))
	require.NoError(t, err)
	gapArgs := append(db, "gaps", "--exchange", "binance", "--symbols", "ETH/USDT", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	code, out, stderr = runCLI(t, nil, gapArgs...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, from.Add(time.Hour).Format("2006-01-02"))
	require.Contains(t, out, "60")
	code, _, stderr = runCLI(t, nil, append(gapArgs, "--fill")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Equal(t, 2*180, count(`SELECT count(*) FROM market.candles WHERE exchange = 'binance'`))

	_, err = conn.Exec(context.Background(), `INSERT INTO ops.quality_reports (id, ts, exchange, symbol, data_type, rows_total, rows_rejected,
		completeness, accuracy, consistency, timeliness, validity, uniqueness, score, passed)
		VALUES (gen_random_uuid(), now(), 'binance', 'BTC/USDT', 'ticker', 10, 1, 1, 1, 1, 0.5, 1, 1, 0.9, false)`)
	require.NoError(t, err)
	code, out, stderr = runCLI(t, nil, append(db, "quality", "--since", "1h")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "BTC/USDT")

	code, _, _ = runCLI(t, nil, append(db, "quality", "--since", "soon")...)
	require.Equal(t, ExitUsage, code)

	_, err = conn.Exec(context.Background(), `INSERT INTO ops.job_runs (id, job, exchange, started_at, finished_at, outcome)
		VALUES (gen_random_uuid(), 'tickers/binance', 'binance', now(), now(), 'ok')`)
	require.NoError(t, err)
	code, out, stderr = runCLI(t, nil, append(db, "status", "--config", cfg)...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "tickers/binance")
	require.Contains(t, stderr, "no daemon answering")
}
