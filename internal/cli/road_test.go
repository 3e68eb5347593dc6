package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

// spoiler makes exchange-replay's Binance send one invalid row in every
// answer, decodable but wrong, as a faulty exchange would: the second
// candle's high below its low, a crossed ticker and book, a trade at price
// zero. Only the daemon's checks can tell.
func spoiler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK && strings.HasPrefix(r.URL.Path, "/binance/") {
			body = spoil(r.URL.Path, body)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func spoil(path string, body []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return body
	}
	switch {
	case strings.HasSuffix(path, "/api/v3/klines"):
		if rows, ok := v.([]any); ok && len(rows) > 1 {
			rows[1].([]any)[2] = "0.00000001" // high
		}
	case strings.HasSuffix(path, "/api/v3/ticker/24hr"):
		t, ok := v.(map[string]any)
		if !ok {
			if ts, _ := v.([]any); len(ts) > 0 {
				t, _ = ts[0].(map[string]any)
			}
		}
		if t != nil {
			t["bidPrice"] = "99999999.00000000"
		}
	case strings.HasSuffix(path, "/api/v3/depth"):
		if b, ok := v.(map[string]any); ok {
			if bids, _ := b["bids"].([]any); len(bids) > 0 {
				bids[0].([]any)[0] = "99999999.00000000"
			}
		}
	case strings.HasSuffix(path, "/api/v3/aggTrades"):
		if rows, ok := v.([]any); ok && len(rows) > 0 {
			rows[0].(map[string]any)["p"] = "0.00000000"
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// TestEveryRoadIsChecked: fetch --store, backfill and gaps --fill write
// through the daemon's road. Each keeps the rows the checks refuse in
// ops.rejected_rows (and does not store them), writes quality reports, and
// records every request in ops.request_metrics. Before, they wrote through
// the store directly: the spoiled rows were stored, and backfill left no
// report and no request record.
func TestEveryRoadIsChecked(t *testing.T) {
	srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{"binance": false}}, spoiler)
	cfgPath := filepath.Join(t.TempDir(), "mdingest.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf("exchanges:\n  binance: {enabled: true, base_url: %q}\n", srv.URL+"/binance")), 0o600))
	url := pgtest.NewDB(t)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", url)
	require.Equal(t, ExitOK, code, stderr)
	db := []string{"--config", cfgPath, "--database-url", url}

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n), sql)
		return n
	}
	rejected := func(dataType string) int {
		return count(`SELECT count(*) FROM ops.rejected_rows WHERE exchange = 'binance' AND data_type = $1 AND source = 'validation'`, dataType)
	}
	reports := func(dataType string) int {
		return count(`SELECT count(*) FROM ops.quality_reports WHERE exchange = 'binance' AND data_type = $1`, dataType)
	}
	requests := func(endpoint string) int {
		return count(`SELECT count(*) FROM ops.request_metrics WHERE exchange = 'binance' AND endpoint = $1`, endpoint)
	}

	// fetch --store, every kind that has checks.
	for _, tc := range []struct{ kind, dataType, endpoint, table string }{
		{"ticker", "ticker", "ticker24hr", "market.tickers"},
		{"orderbook", "orderbook", "depth", "market.order_books"},
		{"ohlcv", "ohlcv:1m", "klines", "market.candles"},
		{"trades", "trades", "aggTrades", "market.trades"},
	} {
		code, _, stderr := runCLI(t, nil, append(db, "fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", tc.kind, "--limit", "5", "--store")...)
		require.Equal(t, ExitOK, code, stderr)
		require.Contains(t, stderr, "stored:", tc.kind)
		dt := strings.Split(tc.dataType, ":")[0]
		require.Equal(t, 1, rejected(dt), "fetch --store --kind %s: the spoiled row kept in ops.rejected_rows", tc.kind)
		require.Equal(t, 1, reports(tc.dataType), "fetch --store --kind %s: a quality report", tc.kind)
		require.Positive(t, requests(tc.endpoint), "fetch --store --kind %s: its request recorded", tc.kind)
		if tc.kind == "ticker" || tc.kind == "orderbook" {
			require.Zero(t, count(`SELECT count(*) FROM `+tc.table), "fetch --store --kind %s stored the spoiled row", tc.kind)
		}
	}
	require.Equal(t, 4, count(`SELECT count(*) FROM market.candles`), "5 fetched, 1 refused")

	// backfill: three hours, one 180-candle page per symbol.
	to := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	from := to.Add(-3 * time.Hour)
	klines := requests("klines")
	code, out, stderr := runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "BTC/USDT,ETH/USDT",
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "2 rejected")
	require.Equal(t, 1+2, rejected("ohlcv"), "backfill: one spoiled candle a page")
	require.Equal(t, 1+2, reports("ohlcv:1m"), "backfill: a report a page")
	require.Equal(t, klines+2, requests("klines"), "backfill: every request recorded")
	inRange := `SELECT count(*) FROM market.candles WHERE ts >= $1 AND ts < $2`
	require.Equal(t, 2*179, count(inRange, from, to), "the spoiled candles are not stored")
	require.Zero(t, count(`SELECT count(*) FROM market.candles WHERE high < low`))

	// gaps --fill: an hour of ETH/USDT removed, found and fetched again.
	_, err = conn.Exec(context.Background(), `DELETE FROM market.candles WHERE symbol = 'ETH/USDT' AND ts >= $1 AND ts < $2`, from.Add(time.Hour), from.Add(2*time.Hour))
	require.NoError(t, err)
	code, out, stderr = runCLI(t, nil, append(db, "gaps", "--exchange", "binance", "--symbols", "ETH/USDT",
		"--from", from.Add(time.Hour).Format(time.RFC3339), "--to", from.Add(2*time.Hour).Format(time.RFC3339), "--fill")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "1 rejected")
	require.Equal(t, 1+2+1, rejected("ohlcv"), "gaps --fill: the spoiled candle of its page")
	require.Equal(t, 1+2+1, reports("ohlcv:1m"), "gaps --fill: a report")
	require.Equal(t, klines+3, requests("klines"), "gaps --fill: its request recorded")
	require.Equal(t, 2*179-1, count(inRange, from, to))
	require.Zero(t, count(`SELECT count(*) FROM ops.rejected_rows WHERE source <> 'validation'`))
}
