package reliabilitytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

const (
	// daemonOutage is how long the cluster stays down while the daemon runs.
	daemonOutage = 8 * time.Second
	// daemonPoll is the gap between /status and database samples.
	daemonPoll = 100 * time.Millisecond
)

var (
	outageExchanges = []string{"binance", "okx"}
	outageSymbols   = []market.Symbol{"BTC/USDT", "ETH/USDT"}
	// The data types compared, as the replay's key log and
	// ops.rejected_rows name them, with the table holding them.
	outageKinds = []struct{ kind, table string }{
		{"ticker", "market.tickers"},
		{"orderbook", "market.order_books"},
		{"trades", "market.trades"},
		{"ohlcv", "market.candles"},
	}
)

// TestDaemonSurvivesDatabaseOutage runs the whole daemon against the
// exchange replay and stops its PostgreSQL (fast shutdown, sessions cut)
// for a while: fetching goes on into the disk spool, and once the server
// is back and the spool replayed, every key the replay served intact is
// stored (or rejected by validation), none twice.
//
// Binance and OKX only: their candle answers hold just the candles asked
// for, so candles are comparable too (see BenchmarkSoak in internal/daemon).
func TestDaemonSurvivesDatabaseOutage(t *testing.T) {
	onBothBackends(t, testDaemonSurvivesDatabaseOutage)
}

func testDaemonSurvivesDatabaseOutage(t *testing.T, timescale bool) {
	c := newCluster(t, timescale)
	rp := newKeyLogReplay(t)
	cfg := outageConfig(t, rp.URL, c.url("mdingest"))
	d := runDaemon(t, cfg)
	db := c.db(t)

	// Rows flow: every compared table holds rows of every exchange.
	require.Eventually(t, func() bool {
		for _, k := range outageKinds {
			by := countBy(t, db, `SELECT exchange, count(*) FROM `+k.table+` GROUP BY 1`)
			for _, ex := range outageExchanges {
				if by[ex] == 0 {
					return false
				}
			}
		}
		return true
	}, wait, daemonPoll, "rows never reached the database")

	// The outage: the daemon keeps fetching, the writer spools.
	c.stop()
	requestsAtStop := rp.requests()
	maxPending := 0
	for end := time.Now().Add(daemonOutage); time.Now().Before(end); time.Sleep(daemonPoll) {
		maxPending = max(maxPending, statusOf(t, d).Spool.PendingBatches)
	}
	duringOutage := rp.requests() - requestsAtStop
	require.Greater(t, duringOutage, int64(10), "fetching goes on while the database is down")
	require.Positive(t, maxPending, "batches went to the spool during the outage")

	c.start()
	require.Eventually(t, func() bool {
		s := statusOf(t, d)
		return s.Spool.PendingBatches == 0 && s.QueueDepth == 0
	}, wait, daemonPoll, "the spool was not replayed")
	metrics := metricsOf(t, d)
	require.Positive(t, metrics["mdingest_writer_rows_spooled_total"])
	require.Positive(t, metrics["mdingest_writer_rows_replayed_total"])
	require.Zero(t, metrics["mdingest_writer_rows_dropped_total"])

	// A clean stop: the drain writes what the last runs fetched. Only then
	// are the served keys final.
	require.NoError(t, d.Stop(t), "Run must return nil after the outage")
	served := rp.Stats()

	stored := map[string]map[string]int64{}
	for _, k := range outageKinds {
		stored[k.kind] = countBy(t, db, `SELECT exchange, count(*) FROM `+k.table+` GROUP BY 1`)
	}
	rejected := map[string]map[string]int64{}
	for _, k := range outageKinds {
		rejected[k.kind] = countBy(t, db,
			`SELECT exchange, count(*) FROM ops.rejected_rows WHERE source = 'validation' AND data_type = $1 GROUP BY 1`, k.kind)
	}
	for _, ex := range outageExchanges {
		for _, k := range outageKinds {
			keys, rows, rej := served[ex].Keys[k.kind], stored[k.kind][ex], rejected[k.kind][ex]
			t.Logf("%-8s %-9s served %5d keys, stored %5d, rejected %d", ex, k.kind, keys, rows, rej)
			require.Positive(t, keys, "%s %s: nothing served", ex, k.kind)
			require.GreaterOrEqual(t, rows+rej, keys, "%s %s: served keys lost", ex, k.kind)
			require.LessOrEqual(t, rows, keys, "%s %s: more rows stored than keys served", ex, k.kind)
		}
	}

	// Stored twice under another key: the primary keys can't catch a
	// trade with another time, nor an ops row replayed under a new id.
	for what, q := range map[string]string{
		"trades by (exchange, symbol, trade_id)":               `SELECT exchange, count(*) FROM market.trades GROUP BY exchange, symbol, trade_id HAVING count(*) > 1`,
		"job runs by (job, instance, started_at)":              `SELECT job, count(*) FROM ops.job_runs GROUP BY job, instance, started_at HAVING count(*) > 1`,
		"request metrics by (exchange, endpoint, ts, attempt)": `SELECT exchange, count(*) FROM ops.request_metrics GROUP BY exchange, endpoint, ts, attempt HAVING count(*) > 1`,
	} {
		require.Empty(t, countBy(t, db, q), "stored twice: %s", what)
	}
	require.Zero(t, count(t, db, `SELECT count(*) FROM ops.rejected_rows WHERE source = 'decode'`), "intact answers decode")
	t.Logf("outage %s: %d requests served during it, at most %d batches in the spool, %.0f rows replayed from it",
		daemonOutage, duringOutage, maxPending, metrics["mdingest_writer_rows_replayed_total"])
}

// countBy runs a query returning (text, count) rows.
func countBy(t *testing.T, db *pgxpool.Pool, q string, args ...any) map[string]int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), q, args...)
	require.NoError(t, err, q)
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		require.NoError(t, rows.Scan(&k, &n))
		out[k] += n
	}
	require.NoError(t, rows.Err())
	return out
}

// keyLogReplay is exchange-replay in-process, counting the keys it serves.
type keyLogReplay struct{ *replaytest.Server }

func newKeyLogReplay(t *testing.T) keyLogReplay {
	t.Helper()
	syms := make([]string, len(outageSymbols))
	for i, s := range outageSymbols {
		syms[i] = string(s)
	}
	// Rate limits off: only the daemon's own limiter paces it. Only the
	// configured symbols: a ticker answer listing others would count keys
	// the daemon rightly drops.
	return keyLogReplay{replaytest.NewServer(t, replay.Options{Symbols: syms, KeyLog: true}, nil)}
}

// requests counts the requests served to the compared exchanges.
func (r keyLogReplay) requests() int64 {
	var n int64
	stats := r.Stats()
	for _, ex := range outageExchanges {
		for _, route := range stats[ex].Routes {
			n += route.Requests
		}
	}
	return n
}

// outageConfig: the two exchanges against the replay with the test's
// symbols, realtime and high jobs every second.
func outageConfig(t *testing.T, replayURL, dbURL string) config.Config {
	t.Helper()
	cfg := daemontest.Config(t, replayURL, dbURL, outageExchanges...)
	cfg.Instance = "outage"
	cfg.Jobs.High = config.Duration(time.Second)
	for _, id := range outageExchanges {
		e := cfg.Exchanges[id]
		e.Symbols = outageSymbols
		cfg.Exchanges[id] = e
	}
	require.NoError(t, cfg.Validate())
	return cfg
}

func runDaemon(t *testing.T, cfg config.Config) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, cfg, slog.LevelInfo)
}

// daemonStatus is what the test reads of /status.
type daemonStatus struct {
	QueueDepth int `json:"queue_depth"`
	Spool      struct {
		PendingBatches int `json:"pending_batches"`
	} `json:"spool"`
}

func statusOf(t *testing.T, d *daemontest.Daemon) daemonStatus {
	t.Helper()
	code, body := d.Get(t, "/status")
	require.Equal(t, http.StatusOK, code)
	var s daemonStatus
	require.NoError(t, json.Unmarshal(body, &s))
	return s
}

// metrics sums /metrics samples by family name.
func metricsOf(t *testing.T, d *daemontest.Daemon) map[string]float64 {
	t.Helper()
	code, body := d.Get(t, "/metrics")
	require.Equal(t, http.StatusOK, code)
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value follows the closing brace.
			name = line[:i]
			_, rest, _ = strings.Cut(line[strings.LastIndexByte(line, '}')+1:], " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		require.NoError(t, err, "%s", line)
		out[name] += v
	}
	require.NoError(t, sc.Err())
	return out
}

// TestDaemonStartsWithDatabaseDown starts the daemon while its PostgreSQL
// is stopped (it used to exit 1): it runs, fetches into the spool, and
// /readyz says it is not ready; once the server is up, the spool is
// replayed, /readyz turns ready, and the rows are stored.
func TestDaemonStartsWithDatabaseDown(t *testing.T) {
	c := newCluster(t, false)
	c.stop()
	rp := newKeyLogReplay(t)
	cfg := outageConfig(t, rp.URL, c.url("mdingest"))
	d := runDaemon(t, cfg)

	require.Eventually(t, func() bool { return statusOf(t, d).Spool.PendingBatches > 0 }, wait, daemonPoll,
		"fetching goes on into the spool")
	code, body := d.Get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))

	c.start()
	require.Eventually(t, func() bool {
		code, _ := d.Get(t, "/readyz")
		s := statusOf(t, d)
		return code == http.StatusOK && s.Spool.PendingBatches == 0
	}, wait, daemonPoll, "ready, and the spool replayed")
	metrics := metricsOf(t, d)
	require.Positive(t, metrics["mdingest_writer_rows_replayed_total"])
	require.Zero(t, metrics["mdingest_writer_rows_dropped_total"])
	// Every kind flows once the database answers; trade capture of a
	// paging exchange waited for it (its cursor is in the database), and
	// retries on its own backoff.
	db := c.db(t)
	for _, k := range outageKinds {
		require.Eventually(t, func() bool { return count(t, db, `SELECT count(*) FROM `+k.table) > 0 }, wait, daemonPoll,
			"%s stored", k.table)
	}
	require.NoError(t, d.Stop(t))
}
