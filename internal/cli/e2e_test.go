package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

// replayConfig serves exchange-replay in-process and writes a config file
// pointing every exchange at it.
func replayConfig(t *testing.T) string {
	t.Helper()
	srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{"kraken": false}}, nil)
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

// recordingReplay serves exchange-replay in-process, recording every
// request URI, with a config file pointing every exchange at it.
func recordingReplay(t *testing.T) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var uris []string
	srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{"kraken": false}}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			uris = append(uris, r.URL.RequestURI())
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	path := filepath.Join(t.TempDir(), "mdingest.yaml")
	var y string
	for _, ex := range []string{"binance", "kraken", "htx"} {
		y += fmt.Sprintf("  %s: {enabled: true, base_url: %q}\n", ex, srv.URL+"/"+ex)
	}
	require.NoError(t, os.WriteFile(path, []byte("exchanges:\n"+y), 0o600))
	return path, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), uris...)
	}
}

// candleTimes decodes fetch's OHLCV output into open times.
func candleTimes(t *testing.T, out string) []time.Time {
	t.Helper()
	var rows [][]json.Number
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	var ts []time.Time
	for _, r := range rows {
		ms, err := r[0].Int64()
		require.NoError(t, err)
		ts = append(ts, time.UnixMilli(ms).UTC())
	}
	return ts
}

// TestFetchSince: fetch --since asks for the history page from a given
// time. The recorded Kraken case (CCXT's fetchOHLCV('BTC/USDT', '1h',
// since)) requests OHLC?pair=XBTUSDT&interval=60&since=<seconds>; fetch
// sends the same, and prints only candles from that time on.
func TestFetchSince(t *testing.T) {
	cfg, uris := recordingReplay(t)
	var recorded exchangetest.Case
	for _, c := range exchangetest.LoadFixture(t, "kraken").Cases {
		if c.Method == "fetchOHLCV" && c.Description == "spot ohlcv with since" {
			recorded = c
		}
	}
	require.True(t, recorded.HasRequest(), "the recorded case")
	var sinceMs int64
	require.NoError(t, json.Unmarshal(recorded.Input[2], &sinceMs))
	u, err := url.Parse(recorded.Request.URL)
	require.NoError(t, err)

	since := time.UnixMilli(sinceMs).UTC()
	code, out, stderr := runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "kraken", "--symbol", "BTC/USDT",
		"--kind", "ohlcv", "--timeframe", "1h", "--since", since.Format(time.RFC3339))
	require.Equal(t, ExitOK, code, stderr)
	var sent *url.URL
	for _, s := range uris() {
		if strings.HasPrefix(s, "/kraken/0/public/OHLC?") {
			sent, err = url.Parse(s)
			require.NoError(t, err)
		}
	}
	require.NotNil(t, sent, "an OHLC request: %v", uris())
	require.Equal(t, u.Query(), sent.Query(), "the recorded request: %s", recorded.Request.URL)
	require.NotEmpty(t, candleTimes(t, out))

	// A page inside the history Kraken keeps: the candles after since.
	since = time.Now().UTC().Add(-10 * time.Hour).Truncate(time.Hour).Add(30 * time.Minute)
	code, out, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "kraken", "--symbol", "BTC/USDT",
		"--kind", "ohlcv", "--timeframe", "1h", "--since", since.Format(time.RFC3339))
	require.Equal(t, ExitOK, code, stderr)
	ts := candleTimes(t, out)
	require.NotEmpty(t, ts)
	require.Equal(t, since.Add(30*time.Minute), ts[0], "the first candle opening after since")
	require.LessOrEqual(t, len(ts), 10)

	// Binance: startTime, for candles and for trades.
	since = time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	code, out, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "binance", "--symbol", "ETH/USDT",
		"--kind", "ohlcv", "--limit", "5", "--since", since.Format(time.RFC3339))
	require.Equal(t, ExitOK, code, stderr)
	ts = candleTimes(t, out)
	require.Len(t, ts, 5)
	require.Equal(t, since, ts[0])
	code, out, stderr = runCLI(t, nil, "fetch", "--config", cfg, "--exchange", "binance", "--symbol", "ETH/USDT",
		"--kind", "trades", "--limit", "3", "--since", since.Format("2006-01-02T15:04:05Z"))
	require.Equal(t, ExitOK, code, stderr)
	var trades []struct{ Timestamp int64 }
	require.NoError(t, json.Unmarshal([]byte(out), &trades))
	require.NotEmpty(t, trades)
	for _, tr := range trades {
		require.False(t, time.UnixMilli(tr.Timestamp).Before(since))
		require.True(t, time.UnixMilli(tr.Timestamp).Before(since.Add(time.Hour)), "from since, not the latest")
	}

	// Bad uses exit 2 and name the flag.
	for _, args := range [][]string{
		{"--exchange", "binance", "--symbol", "ETH/USDT", "--kind", "ticker", "--since", "2024-01-01"},
		{"--exchange", "binance", "--symbol", "ETH/USDT", "--kind", "ohlcv", "--since", "yesterday"},
		{"--exchange", "binance", "--symbol", "ETH/USDT", "--kind", "ohlcv", "--since", "2999-01-01"},
		{"--exchange", "htx", "--symbol", "BTC/USDT", "--kind", "trades", "--since", "2024-01-01"},
	} {
		code, _, stderr = runCLI(t, nil, append([]string{"fetch", "--config", cfg}, args...)...)
		require.Equal(t, ExitUsage, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "--since")
	}
}
