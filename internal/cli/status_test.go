package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/buildinfo"
	"github.com/mdingest/mdingest/internal/pgtest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// status against a running daemon: tables of its jobs, exchanges, cache
// and spool; -o json gives /status itself. The daemon's /metrics says
// which build it is.
func TestStatusOfALiveDaemon(t *testing.T) {
	cfg := replayConfig(t)
	db := pgtest.MigratedDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCLIUntil(ctx, "run", "--config", cfg, "--listen", addr, "--database-url", db, "--log-level", "error")
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// Until a job has succeeded on binance.
	require.Eventually(t, func() bool {
		code, body := get(t, "http://"+addr+"/status")
		var doc struct {
			LastSuccess map[string]time.Time `json:"last_success"`
		}
		return code == http.StatusOK && json.Unmarshal([]byte(body), &doc) == nil && !doc.LastSuccess["binance"].IsZero()
	}, time.Minute, 100*time.Millisecond)

	code, metrics := get(t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, code)
	bi := buildinfo.Get()
	require.Contains(t, metrics, `mdingest_build_info{built="`+bi.Built+`",goversion="`+bi.GoVersion+`",revision="`+bi.Revision+`",version="`+bi.Version+`"} 1`)

	code, out, stderr := runCLI(t, nil, "status", "--config", cfg, "--listen", addr)
	require.Equal(t, ExitOK, code, stderr)
	require.Empty(t, stderr)
	lines := strings.Split(out, "\n")
	require.Regexp(t, `^JOB\s+EXCHANGE\s+TIER\s+EVERY\s+RUNS\s+LAST\s+ROWS\s+LAST SUCCESS\s+FAILURES\s+NEXT RUN\s+ERROR$`, lines[0])
	require.Regexp(t, regexp.MustCompile(`(?m)^markets/binance\s+binance\s+low\s+15m\s+[1-9]\d*\s+ok\s+\d+\s+\d+\S* ago\s+0\s`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^EXCHANGE\s+CIRCUIT\s+LAST SUCCESS\s+RATE LIMIT\s+HEALTH$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^binance\s+closed\s+\d+\S* ago\s+ok\s+ok$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^cache\s+memory$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^writer queue\s+\d+ batches$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^spool\s+\d+ batches pending, \d+\.\d% full, pressure \w+, 0 quarantined, 0 corrupt records$`), out)

	code, out, stderr = runCLI(t, nil, "status", "--config", cfg, "--listen", addr, "-o", "json")
	require.Equal(t, ExitOK, code, stderr)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	for _, k := range []string{"jobs", "exchanges", "circuits", "last_success", "cache", "queue_depth", "spool"} {
		require.Contains(t, doc, k)
	}
	require.Equal(t, "memory", doc["cache"])

	code, _, stderr = runCLI(t, nil, "status", "--config", cfg, "--listen", addr, "-o", "yaml")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "--output")
}

// Without a daemon, -o json gives the database's last runs as JSON.
func TestStatusWithoutADaemonAsJSON(t *testing.T) {
	db := pgtest.NewDB(t)
	conn := migrated(t, db)
	_, err := conn.Exec(context.Background(), `INSERT INTO ops.job_runs (id, job, exchange, started_at, finished_at, outcome) VALUES
		(gen_random_uuid(), 'tickers/binance', 'binance', now() - interval '2 minutes', now() - interval '2 minutes', 'ok'),
		(gen_random_uuid(), 'tickers/binance', 'binance', now() - interval '1 minute', now() - interval '1 minute', 'error')`)
	require.NoError(t, err)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())

	code, out, stderr := runCLI(t, nil, "status", "--database-url", db, "--listen", addr, "-o", "json")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stderr, "no daemon answering on "+addr)
	var runs []struct {
		Job         string     `json:"job"`
		Exchange    string     `json:"exchange"`
		LastSuccess *time.Time `json:"last_success"`
		LastOutcome string     `json:"last_outcome"`
		Errors      int        `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &runs), out)
	require.Len(t, runs, 1)
	require.Equal(t, "tickers/binance", runs[0].Job)
	require.Equal(t, "error", runs[0].LastOutcome)
	require.Equal(t, 1, runs[0].Errors)
	require.NotNil(t, runs[0].LastSuccess)
}

// The states a healthy replay does not show: backoff, an error, a frozen
// rate limit, a circuit open, no disk spool.
func TestStatusTableStates(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	body := `{"jobs": [{"name": "tickers/okx", "exchange": "okx", "tier": "high", "interval": "30s", "runs": 40,
		"consecutive_failures": 7, "backoff_every": 4, "last_outcome": "error", "last_rows": 0,
		"last_error": "getting okx tickers:\n503 Service Unavailable", "last_success": "2024-05-01T10:55:30Z",
		"next_run": "2024-05-01T12:01:00Z"}],
		"circuits": {"okx": {"state": "open", "frozen_until": "2024-05-01T12:00:45Z", "waiting": 3},
			"kraken": {"state": "closed"}},
		"exchanges": {"okx": {"degraded": true, "reason": "circuit open", "markets_loaded": true},
			"kraken": {"degraded": true, "reason": "market list not loaded", "markets_loaded": false,
				"markets_error": "getting kraken markets: 503", "markets_retry_at": "2024-05-01T12:00:08Z"}},
		"last_success": {"okx": "2024-05-01T10:55:30Z"}, "cache": "redis", "queue_depth": 2,
		"spool": {"pending_batches": 5, "pressure": "none"}}`
	var doc statusDoc
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	var out strings.Builder
	require.NoError(t, doc.render(&out, now))
	require.Equal(t, `JOB          EXCHANGE  TIER  EVERY  RUNS  LAST   ROWS  LAST SUCCESS  FAILURES            NEXT RUN  ERROR
tickers/okx  okx       high  30s    40    error  0     1h4m ago      7 (every 4th tick)  in 1m     getting okx tickers: 503 Service Unavailable

EXCHANGE  CIRCUIT  LAST SUCCESS  RATE LIMIT                HEALTH
kraken    closed   never         ok                        degraded: market list not loaded, retry in 8s
okx       open     1h4m ago      frozen in 45s, 3 waiting  degraded: circuit open

cache         redis
writer queue  2 batches
spool         off (store.spool_max_bytes: 0); 5 batches pending
`, out.String())
}
