package reliabilitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
)

// moduleRoot is where go.mod is, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

// build compiles the module's commands into a temporary directory.
func build(t *testing.T, pkgs ...string) string {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"build", "-o", out + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot(t)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return out
}

// replayServer runs cmd/exchange-replay on a free port.
func replayServer(t *testing.T, bin string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", pgtest.FreePort(t))
	cmd := exec.Command(filepath.Join(bin, "exchange-replay"), "--listen", addr,
		"--fixtures", filepath.Join(moduleRoot(t), "testdata", "replay"), "--rate-limit", "none")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exchange-replay:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, wait, poll)
	return "http://" + addr
}

func admin(t *testing.T, method, url string, body any, out any) {
	t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
}

// klineRequests is how many candle pages the replay served to binance.
func klineRequests(t *testing.T, replay string) int {
	t.Helper()
	var stats map[string]struct {
		Routes map[string]struct {
			Requests int `json:"requests"`
		} `json:"routes"`
	}
	admin(t, http.MethodGet, replay+"/_admin/stats", nil, &stats)
	n := 0
	for route, s := range stats["binance"].Routes {
		if strings.Contains(route, "klines") {
			n += s.Requests
		}
	}
	return n
}

// TestBackfillResumesAfterKill: `mdingest backfill` killed with SIGKILL in
// the middle of a range continues, when run again, from the page after
// the last one it stored: every candle once, and no page fetched twice
// (but the one in flight at the kill).
func TestBackfillResumesAfterKill(t *testing.T) { onBothBackends(t, testBackfillResumesAfterKill) }

func testBackfillResumesAfterKill(t *testing.T, timescale bool) {
	c := newCluster(t, timescale)
	bin := build(t, "./cmd/mdingest", "./cmd/exchange-replay")
	replay := replayServer(t, bin)
	cfg := filepath.Join(t.TempDir(), "mdingest.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "exchanges:\n  binance: {enabled: true, base_url: %q}\n",
		replay+"/binance"), 0o600))
	backfill := func(symbol string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "mdingest"), "--config", cfg, "--database-url", c.url("mdingest"),
			"backfill", "--exchange", "binance", "--symbols", symbol, "--timeframe", "1m",
			"--from", "2024-01-01", "--to", "2024-01-08")
		cmd.Env = append(os.Environ(), "REDIS_URL=", "DATABASE_URL=")
		return cmd
	}
	db := c.db(t)

	// A clean run of another symbol tells how many pages the range takes.
	out, err := backfill("ETH/USDT").CombinedOutput()
	require.NoError(t, err, "%s", out)
	pages := klineRequests(t, replay)
	candles := count(t, db, `SELECT count(*) FROM market.candles WHERE symbol = 'ETH/USDT'`)
	require.Greater(t, pages, 3)
	admin(t, http.MethodDelete, replay+"/_admin/stats", nil, nil)

	// Slow pages, so the kill lands mid-range.
	admin(t, http.MethodPost, replay+"/_admin/faults",
		map[string]any{"exchange": "binance", "route": "/api/v3/klines", "effect": "latency", "latency": "300ms"}, nil)
	first := backfill("BTC/USDT")
	var logs bytes.Buffer
	first.Stdout, first.Stderr = &logs, &logs
	require.NoError(t, first.Start())
	cursor := func() (time.Time, bool) {
		var ts *time.Time
		var done bool
		err := db.QueryRow(context.Background(), `SELECT max(cursor_ts), coalesce(bool_or(done), false) FROM ops.backfill_progress
			WHERE symbol = 'BTC/USDT'`).Scan(&ts, &done)
		require.NoError(t, err)
		if ts == nil {
			return time.Time{}, false
		}
		return *ts, done
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Eventually(t, func() bool { ts, _ := cursor(); return ts.Sub(from) >= 2*time.Duration(1000)*time.Minute }, wait, poll,
		"two pages stored")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	killedAt, done := cursor()
	require.False(t, done, "killed before the end: %s", logs.String())
	before := count(t, db, `SELECT count(*) FROM market.candles WHERE symbol = 'BTC/USDT'`)
	require.Less(t, before, candles)

	admin(t, http.MethodDelete, replay+"/_admin/faults", nil, nil)
	out, err = backfill("BTC/USDT").CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, done = cursor()
	require.True(t, done)
	require.Equal(t, candles, count(t, db, `SELECT count(*) FROM market.candles WHERE symbol = 'BTC/USDT'`),
		"every candle, once (resumed from %s)", killedAt)
	served := klineRequests(t, replay)
	t.Logf("range: %d pages, %d candles; killed with %d stored (cursor %s); %d pages served over both runs",
		pages, candles, before, killedAt, served)
	require.LessOrEqual(t, served, pages+1, "no stored page fetched again")
}
