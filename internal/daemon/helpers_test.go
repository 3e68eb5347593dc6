package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
	"github.com/mdingest/mdingest/internal/schema"
)

// binDir holds the mdingest binary built once for the subprocess tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mdingest-daemon-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := 0
	func() {
		defer os.RemoveAll(dir)
		// goleak's VerifyTestMain calls os.Exit itself, so check by hand to
		// remove the binaries first. Wrap stops the TimescaleDB cluster.
		code = pgtest.Wrap(m).Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
			}
		}
	}()
	os.Exit(code)
}

// The four exchanges the tests run, and the tier intervals they use.
var testExchanges = []string{"binance", "kraken", "kucoin", "okx"}

const (
	realtimeEvery = daemontest.RealtimeEvery
	highEvery     = daemontest.HighEvery
	mediumEvery   = daemontest.MediumEvery
	lowEvery      = daemontest.LowEvery
	waitFor       = daemontest.WaitFor
	pollGap       = 200 * time.Millisecond
)

// jobInterval is the tick of each job the daemon schedules per exchange.
func jobInterval(job string) time.Duration {
	kind, _, _ := bytes.Cut([]byte(job), []byte("/"))
	switch string(kind) {
	case "orderbooks":
		return realtimeEvery
	case "tickers":
		return highEvery
	case "ohlcv", "trades":
		return mediumEvery
	}
	return lowEvery
}

// migratedDB is a fresh database at the latest schema (plain PostgreSQL).
func migratedDB(t testing.TB) string {
	t.Helper()
	url := pgtest.NewDB(t)
	m, err := schema.Open(context.Background(), url, schema.ModeOff, nil)
	require.NoError(t, err)
	require.NoError(t, m.Up())
	require.NoError(t, m.Close())
	return url
}

func openPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// count runs a query returning one integer.
func count(t testing.TB, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), q, args...).Scan(&n), q)
	return n
}

// rowsBy counts a table's rows per exchange.
func rowsBy(t *testing.T, pool *pgxpool.Pool, table string) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT exchange, count(*) FROM "+table+" GROUP BY 1")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var ex string
		var n int64
		require.NoError(t, rows.Scan(&ex, &n))
		out[ex] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// newReplay serves exchange-replay in-process (rate limits off: the tests
// depend on the daemon's own limiter only) with three symbols.
func newReplay(t *testing.T, wrap func(http.Handler) http.Handler) *replaytest.Server {
	t.Helper()
	return replaytest.NewServer(t, replay.Options{Symbols: []string{"BTC/USDT", "ETH/USDT", "SOL/USDT"}}, wrap)
}

// startDaemon runs the daemon, logging at debug, until stop (or the test's
// end).
func startDaemon(t testing.TB, cfg config.Config) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, cfg, slog.LevelDebug)
}

// status is what the tests read of /status.
type status struct {
	Jobs []struct {
		Name        string `json:"name"`
		Runs        int64  `json:"runs"`
		LastOutcome string `json:"last_outcome"`
	} `json:"jobs"`
	Circuits map[string]struct {
		State    string `json:"state"`
		Degraded bool   `json:"degraded"`
	} `json:"circuits"`
	Cache      string `json:"cache"`
	QueueDepth int    `json:"queue_depth"`
}

// getStatus returns /status, raw and decoded.
func getStatus(t *testing.T, addr string) (status, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	var st status
	require.NoError(t, json.Unmarshal(buf.Bytes(), &st), buf.String())
	return st, buf.Bytes()
}

// redisServer is a private redis-server, so that tests can stop it and so
// that lock and cache keys never meet other packages' tests.
type redisServer struct {
	port     int
	password string
	dir      string
	cmd      *exec.Cmd
}

func startRedis(t testing.TB, password string) *redisServer {
	t.Helper()
	_, portS, err := net.SplitHostPort(daemontest.FreeAddr(t))
	require.NoError(t, err)
	port, err := strconv.Atoi(portS)
	require.NoError(t, err)
	r := &redisServer{port: port, password: password, dir: t.TempDir()}
	r.start(t)
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) URL() string {
	if r.password != "" {
		return fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", r.password, r.port)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
}

func (r *redisServer) start(t testing.TB) {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server is needed on PATH (apt-get install redis-server)")
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}
	if r.password != "" {
		args = append(args, "--requirepass", r.password)
	}
	r.cmd = exec.Command(path, args...)
	r.cmd.Stdout = &bytes.Buffer{}
	r.cmd.Stderr = r.cmd.Stdout
	require.NoError(t, r.cmd.Start())
	client := r.client()
	defer client.Close()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return client.Ping(ctx).Err() == nil
	}, 10*time.Second, 50*time.Millisecond, "redis-server on port %d did not come up: %s", r.port, r.cmd.Stdout)
}

func (r *redisServer) client() *redis.Client {
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		panic(err)
	}
	return redis.NewClient(opts)
}

// kill stops the server at once, as a crash would.
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// keys counts the keys matching pattern.
func (r *redisServer) keys(t testing.TB, pattern string) int {
	t.Helper()
	c := r.client()
	defer c.Close()
	ks, err := c.Keys(context.Background(), pattern).Result()
	require.NoError(t, err)
	return len(ks)
}

// buildMdingest builds cmd/mdingest once per test binary.
var buildMdingest = sync.OnceValues(func() (string, error) {
	out := filepath.Join(binDir, "mdingest")
	cmd := exec.Command("go", "build", "-o", out, "github.com/mdingest/mdingest/cmd/mdingest")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w: %s", err, b)
	}
	return out, nil
})

// duplicateKeys returns the top-level keys a JSON log line repeats (a part
// tagged twice, e.g. component=writer component=writer).
func duplicateKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	seen := map[string]bool{}
	var dups []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return dups, nil
}
