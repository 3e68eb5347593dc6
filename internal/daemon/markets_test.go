package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
)

// marketsDown answers 503 on an exchange's market list while down is set.
type marketsDown struct {
	paths map[string]*atomic.Bool // request path -> down
}

func (m marketsDown) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down, ok := m.paths[r.URL.Path]; ok && down.Load() {
			http.Error(w, "market list unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// exchangeHealth is what the test reads of /status's exchanges.
type exchangeHealth struct {
	Degraded       bool      `json:"degraded"`
	Reason         string    `json:"reason"`
	MarketsLoaded  bool      `json:"markets_loaded"`
	MarketsError   string    `json:"markets_error"`
	MarketsRetryAt time.Time `json:"markets_retry_at"`
}

func exchangesStatus(t *testing.T, addr string) map[string]exchangeHealth {
	t.Helper()
	_, raw := getStatus(t, addr)
	var st struct {
		Exchanges map[string]exchangeHealth `json:"exchanges"`
	}
	require.NoError(t, json.Unmarshal(raw, &st))
	return st.Exchanges
}

// jobOK reports whether a job's last run succeeded.
func jobOK(t *testing.T, addr, job string) bool {
	t.Helper()
	st, _ := getStatus(t, addr)
	for _, j := range st.Jobs {
		if j.Name == job {
			return j.LastOutcome == "ok"
		}
	}
	t.Fatalf("no job %s in /status", job)
	return false
}

// metricValue reads one sample of the daemon's /metrics ("" if absent).
func metricValue(t *testing.T, addr, sample string) string {
	t.Helper()
	_, body := get(t, addr, "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	return get(t, addr, "/readyz")
}

// get answers a GET of the daemon's path: the status and the body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestMarketListRetriedAtStart (issue 14 §2): the market lists fail at
// start. Meanwhile both exchanges show degraded in /status and metrics and
// /readyz says not ready; once Kraken's list loads it is ready and names
// Binance; once Binance's loads, its jobs start within seconds, although the
// low tier's next tick, which refreshes market lists, is an hour away.
func TestMarketListRetriedAtStart(t *testing.T) {
	t.Parallel()
	binanceDown, krakenDown := &atomic.Bool{}, &atomic.Bool{}
	binanceDown.Store(true)
	krakenDown.Store(true)
	fail := marketsDown{paths: map[string]*atomic.Bool{
		"/binance/api/v3/exchangeInfo": binanceDown,
		"/kraken/0/public/AssetPairs":  krakenDown,
	}}
	rp := newReplay(t, fail.wrap)
	cfg := daemontest.Config(t, rp.URL, migratedDB(t), "binance", "kraken")
	cfg.Jobs.Low = config.Duration(time.Hour)
	cfg.Jobs.Daily = config.Duration(2 * time.Hour)
	d := startDaemon(t, cfg)
	addr := d.Config.Listen

	require.Eventually(t, func() bool {
		ex := exchangesStatus(t, addr)
		return !ex["binance"].MarketsRetryAt.IsZero() && !ex["kraken"].MarketsRetryAt.IsZero()
	}, waitFor, pollGap, "no market list retry pending")
	ex := exchangesStatus(t, addr)
	for _, id := range []string{"binance", "kraken"} {
		require.True(t, ex[id].Degraded, id)
		require.False(t, ex[id].MarketsLoaded, id)
		require.Equal(t, "market list not loaded", ex[id].Reason, id)
		require.Contains(t, ex[id].MarketsError, "503", id)
		require.Equal(t, "1", metricValue(t, addr, `mdingest_exchange_degraded{exchange="`+id+`"}`), id)
	}
	code, body := readyz(t, addr)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "no enabled exchange has loaded its market list yet")
	require.False(t, jobOK(t, addr, "tickers/kraken"))

	// Kraken's list loads: ready, Binance named as degraded.
	krakenDown.Store(false)
	require.Eventually(t, func() bool { return jobOK(t, addr, "tickers/kraken") }, waitFor, pollGap,
		"kraken's jobs did not start after its market list loaded")
	ex = exchangesStatus(t, addr)
	require.False(t, ex["kraken"].Degraded)
	require.True(t, ex["kraken"].MarketsLoaded)
	require.Zero(t, ex["kraken"].MarketsRetryAt)
	require.True(t, ex["binance"].Degraded)
	require.Equal(t, "0", metricValue(t, addr, `mdingest_exchange_degraded{exchange="kraken"}`))
	require.Equal(t, "1", metricValue(t, addr, `mdingest_exchange_degraded{exchange="binance"}`))
	code, body = readyz(t, addr)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "ready; degraded: binance (market list not loaded)\n", body)
	require.False(t, jobOK(t, addr, "tickers/binance"))

	// Binance's list loads: its jobs start, nothing is degraded.
	binanceDown.Store(false)
	require.Eventually(t, func() bool {
		return jobOK(t, addr, "tickers/binance") && jobOK(t, addr, "orderbooks/binance")
	}, waitFor, pollGap, "binance's jobs did not start after its market list loaded")
	require.False(t, exchangesStatus(t, addr)["binance"].Degraded)
	require.Equal(t, "0", metricValue(t, addr, `mdingest_exchange_degraded{exchange="binance"}`))
	code, body = readyz(t, addr)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "ready\n", body)
}
