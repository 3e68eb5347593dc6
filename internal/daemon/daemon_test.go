package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/schema"
)

var (
	marketTables = []string{"market.candles", "market.tickers", "market.order_books", "market.trades", "market.symbols"}
	opsTables    = []string{"ops.quality_reports", "ops.request_metrics", "ops.job_runs"}
)

// everyExchangeHasRows reports whether each table holds rows of each exchange.
func everyExchangeHasRows(t *testing.T, pool *pgxpool.Pool, tables []string, exchanges []string) bool {
	for _, table := range tables {
		by := rowsBy(t, pool, table)
		for _, ex := range exchanges {
			if by[ex] == 0 {
				return false
			}
		}
	}
	return true
}

// TestEndToEnd runs the daemon against four replayed exchanges until every
// market and ops table has rows of each, then stops it: Run returns nil and
// what was fetched before the stop is stored. On PostgreSQL and on
// TimescaleDB, where the rows land in hypertable chunks.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testEndToEnd(t, b)
		})
	}
}

func testEndToEnd(t *testing.T, b pgtest.Backend) {
	rp := newReplay(t, nil)
	dbURL := b.MigratedDB(t)
	pool := openPool(t, dbURL)
	cfg := daemontest.Config(t, rp.URL, dbURL, testExchanges...)
	d := startDaemon(t, cfg)

	require.Eventually(t, func() bool {
		return everyExchangeHasRows(t, pool, append(marketTables, opsTables...), testExchanges)
	}, waitFor, pollGap, "not every table got rows of every exchange")

	st, _ := getStatus(t, cfg.Listen)
	require.Equal(t, "memory", st.Cache, "no redis_url: the in-process cache")
	for _, ex := range testExchanges {
		require.Equal(t, "closed", st.Circuits[ex].State, ex)
	}
	quality := count(t, pool, `SELECT count(*) FROM ops.quality_reports WHERE score < 0 OR score > 1`)
	require.Zero(t, quality, "quality scores lie in [0, 1]")

	// Stop while requests are in flight: slow every answer down and wait
	// for a request to arrive. The drain must store what those requests
	// bring, and every run the scheduler counted before.
	servedNow := func() int64 {
		var n int64
		for _, ex := range testExchanges {
			for _, r := range rp.Stats()[ex].Routes {
				n += r.Requests
			}
		}
		return n
	}
	// Trade capture pages on its own loop, not in scheduler runs: a
	// request of its proves no run in flight.
	servedForRuns := func() int64 {
		var n int64
		for _, ex := range testExchanges {
			for path, r := range rp.Stats()[ex].Routes {
				if !strings.Contains(strings.ToLower(path), "trade") && !strings.Contains(path, "histories") {
					n += r.Requests
				}
			}
		}
		return n
	}
	require.NoError(t, rp.AddFaults(replay.Fault{Exchange: "*", Effect: "latency", Latency: "400ms"}))
	before, _ := getStatus(t, cfg.Listen)
	n0 := servedForRuns()
	require.Eventually(t, func() bool { return servedForRuns() > n0 }, waitFor, 10*time.Millisecond)
	require.NoError(t, d.Stop(t), "a clean stop")

	var counted, stored int64
	for _, j := range before.Jobs {
		n := count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE job = $1 AND outcome IN ('ok', 'error')`, j.Name)
		require.GreaterOrEqual(t, n, j.Runs, "runs of %s", j.Name)
		counted += j.Runs
		stored += n
	}
	require.Greater(t, stored, counted, "the runs in flight at the stop are recorded too")
	// Every request the replay served, the in-flight ones included, has
	// its ops.request_metrics row.
	served := servedNow()
	require.GreaterOrEqual(t, count(t, pool, `SELECT count(*) FROM ops.request_metrics`), served, "request metrics lost in the drain")
	require.Zero(t, count(t, pool, `SELECT count(*) FROM ops.request_metrics WHERE error_category = 'canceled'`),
		"in-flight requests finish within the grace period")
	require.Zero(t, count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE instance <> 'test'`))
	// Each part tags its log lines once.
	lines := bytes.Split(bytes.TrimSpace([]byte(d.Log.String())), []byte("\n"))
	require.Greater(t, len(lines), 20)
	for _, line := range lines {
		dups, err := duplicateKeys(line)
		require.NoError(t, err, "%s", line)
		require.Empty(t, dups, "%s", line)
	}
	// Nothing the replay served failed to decode.
	require.Zero(t, count(t, pool, `SELECT count(*) FROM ops.rejected_rows WHERE source = 'decode'`))
	if b.Variant == schema.TimescaleDB {
		for _, table := range append(marketTables, opsTables...) {
			if table == "market.symbols" {
				continue // not time-keyed
			}
			require.Positive(t, count(t, pool, `SELECT count(*) FROM show_chunks($1::regclass)`, table), "chunks of %s", table)
		}
	}
}

// TestFaultsOpenCircuit makes one exchange answer 503 and another hang:
// their circuits open, their request metrics say why, and the healthy
// exchanges keep storing.
func TestFaultsOpenCircuit(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	cfg := daemontest.Config(t, rp.URL, dbURL, testExchanges...)
	kucoin := cfg.Exchanges["kucoin"]
	kucoin.Timeout = config.Duration(500 * time.Millisecond) // a hung request fails fast
	cfg.Exchanges["kucoin"] = kucoin
	startDaemon(t, cfg)

	require.Eventually(t, func() bool {
		return everyExchangeHasRows(t, pool, []string{"market.order_books", "market.tickers"}, testExchanges)
	}, waitFor, pollGap)

	require.NoError(t, rp.AddFaults(
		replay.Fault{Exchange: "okx", Effect: "503"},
		replay.Fault{Exchange: "kucoin", Effect: "hang"},
	))
	require.Eventually(t, func() bool {
		st, _ := getStatus(t, cfg.Listen)
		return st.Circuits["okx"].State == "open" && st.Circuits["kucoin"].State == "open"
	}, waitFor, pollGap, "circuits of the failing exchanges did not open")
	st, _ := getStatus(t, cfg.Listen)
	require.True(t, st.Circuits["okx"].Degraded)
	for _, ex := range []string{"binance", "kraken"} {
		require.Equal(t, "closed", st.Circuits[ex].State, ex)
	}

	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM ops.request_metrics WHERE exchange = 'okx' AND http_status = 503 AND error_category = 'server'`) > 0 &&
			count(t, pool, `SELECT count(*) FROM ops.request_metrics WHERE exchange = 'kucoin' AND error_category = 'timeout'`) > 0
	}, waitFor, pollGap, "request metrics do not show the failures")

	// The healthy exchanges keep storing new rows.
	books := rowsBy(t, pool, "market.order_books")
	tickers := rowsBy(t, pool, "market.tickers")
	require.Eventually(t, func() bool {
		b, tk := rowsBy(t, pool, "market.order_books"), rowsBy(t, pool, "market.tickers")
		return b["binance"] > books["binance"] && b["kraken"] > books["kraken"] &&
			tk["binance"] > tickers["binance"] && tk["kraken"] > tickers["kraken"]
	}, waitFor, pollGap, "healthy exchanges stopped storing")
	// While open, the jobs fail at once with the breaker's error instead
	// of asking the exchange.
	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE exchange = 'okx' AND outcome = 'error' AND error LIKE $1`,
			"%"+httpclient.ErrCircuitOpen.Error()+"%") > 0
	}, waitFor, pollGap)
}

// served records the bodies the replay sent on one route.
type served struct {
	mu     sync.Mutex
	path   string
	bodies map[string]bool
}

func (s *served) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.path {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.mu.Lock()
		s.bodies[string(rec.body)] = true
		s.mu.Unlock()
	})
}

func (s *served) has(body []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[string(body)]
}

type recorder struct {
	http.ResponseWriter
	body []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return r.ResponseWriter.Write(b)
}

// TestCorruptResponses serves one exchange's order books truncated: each
// becomes an ops.rejected_rows row with source decode that keeps the exact
// bytes served, and the exchange's other data and circuit are unaffected.
func TestCorruptResponses(t *testing.T) {
	t.Parallel()
	const route = "/api/v3/depth"
	rec := &served{path: "/binance" + route, bodies: map[string]bool{}}
	rp := newReplay(t, rec.wrap)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	cfg := daemontest.Config(t, rp.URL, dbURL, "binance", "okx")
	require.NoError(t, rp.AddFaults(replay.Fault{Exchange: "binance", Route: route, Effect: "truncate"}))
	startDaemon(t, cfg)

	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM ops.rejected_rows WHERE exchange = 'binance' AND source = 'decode' AND data_type = 'orderbook'`) >= 2
	}, waitFor, pollGap, "no decode rejections stored")

	rows, err := pool.Query(context.Background(), `SELECT symbol, reason, raw, payload IS NULL FROM ops.rejected_rows
		WHERE exchange = 'binance' AND source = 'decode'`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var symbol, reason string
		var raw []byte
		var noPayload bool
		require.NoError(t, rows.Scan(&symbol, &reason, &raw, &noPayload))
		require.Contains(t, []string{"BTC/USDT", "ETH/USDT"}, symbol)
		require.NotEmpty(t, reason)
		require.NotEmpty(t, raw, "the undecodable body is kept")
		require.False(t, json.Valid(raw))
		require.True(t, noPayload, "invalid JSON goes to raw, not payload")
		require.True(t, rec.has(raw), "raw is exactly a body the replay served: %q", raw)
		n++
	}
	require.NoError(t, rows.Err())
	require.Positive(t, n)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM market.order_books WHERE exchange = 'binance'`))

	// The rest of binance goes on; a bad body is not an unhealthy exchange.
	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM market.tickers WHERE exchange = 'binance'`) > 0 &&
			count(t, pool, `SELECT count(*) FROM market.order_books WHERE exchange = 'okx'`) > 0
	}, waitFor, pollGap)
	st, _ := getStatus(t, cfg.Listen)
	require.Equal(t, "closed", st.Circuits["binance"].State)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM ops.rejected_rows WHERE exchange = 'okx'`))
}

// TestRedisOutage kills the daemon's Redis mid-run: the daemon keeps
// storing with the in-process cache, and goes back to Redis once it is
// restarted on the same port.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	rs := startRedis(t, "")
	cfg := daemontest.Config(t, rp.URL, dbURL, "binance", "okx")
	cfg.RedisURL = config.Secret(rs.URL())
	startDaemon(t, cfg)

	require.Eventually(t, func() bool {
		st, _ := getStatus(t, cfg.Listen)
		return st.Cache == "redis" && rs.keys(t, "mdingest:ticker:*") > 0 && rs.keys(t, "mdingest:lock:*") > 0
	}, waitFor, pollGap, "the daemon does not cache and lock in redis")

	rs.kill()
	require.Eventually(t, func() bool {
		st, _ := getStatus(t, cfg.Listen)
		return st.Cache == "memory"
	}, waitFor, pollGap, "no fallback to memory")
	books := rowsBy(t, pool, "market.order_books")
	tickers := rowsBy(t, pool, "market.tickers")
	require.Eventually(t, func() bool {
		b, tk := rowsBy(t, pool, "market.order_books"), rowsBy(t, pool, "market.tickers")
		return b["binance"] > books["binance"] && b["okx"] > books["okx"] && tk["binance"] > tickers["binance"]
	}, waitFor, pollGap, "storing stopped without redis")
	st, _ := getStatus(t, cfg.Listen)
	require.Equal(t, "memory", st.Cache)

	rs.start(t)
	require.Eventually(t, func() bool {
		st, _ := getStatus(t, cfg.Listen)
		return st.Cache == "redis"
	}, waitFor, pollGap, "the cache did not go back to redis")
	require.Eventually(t, func() bool { return rs.keys(t, "mdingest:ticker:*") > 0 }, waitFor, pollGap,
		"nothing cached in the restarted redis")
}

// TestTwoInstancesShareTicks runs two daemons on one database and one
// Redis: each job runs at most once per tick across both, and both do work.
func TestTwoInstancesShareTicks(t *testing.T) {
	t.Parallel()
	rs := startRedis(t, "")
	twoInstancesShareTicks(t, rs.URL())
}

// Without Redis (down, or not configured), the database's advisory locks
// take the ticks: two daemons still run each job once per tick (they used
// to run every job each, 20+ ticks twice in 32 s).
func TestTwoInstancesShareTicksWithoutRedis(t *testing.T) {
	t.Parallel()
	t.Run("redis down", func(t *testing.T) {
		twoInstancesShareTicks(t, "redis://127.0.0.1:"+strconv.Itoa(pgtest.FreePort(t))+"/0")
	})
	t.Run("no redis", func(t *testing.T) { twoInstancesShareTicks(t, "") })
}

func twoInstancesShareTicks(t *testing.T, redisURL string) {
	rp := newReplay(t, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	var ds []*daemontest.Daemon
	for _, name := range []string{"a", "b"} {
		cfg := daemontest.Config(t, rp.URL, dbURL, testExchanges...)
		cfg.Instance = name
		cfg.RedisURL = config.Secret(redisURL)
		ds = append(ds, startDaemon(t, cfg))
	}
	// Markets load in every instance; trade capture is not ticked (its
	// rows sum periods, and its lease is tested on its own).
	const distributed = `job NOT LIKE 'markets/%' AND job NOT LIKE 'trades/%'`
	// Several ticks of every job: about six seconds of contention.
	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(DISTINCT instance) FROM ops.job_runs WHERE outcome = 'ok' AND `+distributed) == 2 &&
			count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE outcome = 'ok' AND `+distributed) >= 60
	}, waitFor, pollGap, "both instances should run jobs, several ticks")
	for _, d := range ds {
		require.NoError(t, d.Stop(t))
	}

	rows, err := pool.Query(context.Background(), `SELECT job, started_at, instance FROM ops.job_runs WHERE outcome = 'ok' AND `+distributed)
	require.NoError(t, err)
	defer rows.Close()
	type key struct {
		job  string
		tick int64
	}
	seen := map[key]string{}
	runs := 0
	for rows.Next() {
		var job, instance string
		var started time.Time
		require.NoError(t, rows.Scan(&job, &started, &instance))
		k := key{job, started.Truncate(jobInterval(job)).UnixMilli()}
		prev, dup := seen[k]
		require.False(t, dup, "%s ran twice in the tick of %s (instances %s and %s)", job, started, prev, instance)
		seen[k] = instance
		runs++
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, runs, 60)
	for _, name := range []string{"a", "b"} {
		require.Positive(t, count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE instance = $1 AND outcome = 'ok' AND `+distributed, name), name)
	}
	// Markets are local: each instance loads its own.
	require.Equal(t, int64(2), count(t, pool, `SELECT count(DISTINCT instance) FROM ops.job_runs WHERE job = 'markets/binance' AND outcome = 'ok'`))
	for _, d := range ds {
		require.NotContains(t, d.Log.String(), `"level":"ERROR"`)
	}
}
