package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
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
	realtimeEvery = time.Second
	highEvery     = 2 * time.Second
	mediumEvery   = 2 * time.Second
	lowEvery      = 5 * time.Second
	// waitFor bounds every Eventually: generous, as the tests share two
	// cores with each other and with the race detector.
	waitFor = 30 * time.Second
	pollGap = 200 * time.Millisecond
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

// replayServer serves exchange-replay in-process. Rate limits are off so
// the tests depend on the daemon's own limiter only.
type replayServer struct {
	*replay.Handler
	URL string
}

func newReplay(t *testing.T, wrap func(http.Handler) http.Handler) replayServer {
	t.Helper()
	off := map[string]bool{}
	for _, ex := range replay.Exchanges {
		off[ex] = false
	}
	h, err := replay.New(replay.Options{
		Fixtures:   os.DirFS("../../testdata/replay"),
		Symbols:    []string{"BTC/USDT", "ETH/USDT", "SOL/USDT"},
		RateLimits: off,
	})
	require.NoError(t, err)
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		h.Close() // releases hung requests first
		srv.Close()
	})
	return replayServer{Handler: h, URL: srv.URL}
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// testConfig enables exchanges against the replay with short intervals.
func testConfig(t *testing.T, replayURL, dbURL string, exchanges ...string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = config.Secret(dbURL)
	cfg.Listen = freeAddr(t)
	cfg.Instance = "test"
	cfg.Store.SpoolDir = t.TempDir() // not the user's cache directory
	cfg.Jobs.Realtime = config.Duration(realtimeEvery)
	cfg.Jobs.High = config.Duration(highEvery)
	cfg.Jobs.Medium = config.Duration(mediumEvery)
	cfg.Jobs.Low = config.Duration(lowEvery)
	cfg.Jobs.Jitter = config.Duration(100 * time.Millisecond)
	cfg.Store.FlushInterval = config.Duration(250 * time.Millisecond)
	for id, e := range cfg.Exchanges {
		e.Enabled = false
		cfg.Exchanges[id] = e
	}
	for _, id := range exchanges {
		e := cfg.Exchanges[id]
		e.Enabled = true
		e.BaseURL = replayURL + "/" + id
		e.Symbols = []market.Symbol{"BTC/USDT", "ETH/USDT"}
		// Kraken's real budget is one call a second: too slow for short
		// ticks. Rate limiting has its own tests.
		e.RateLimit = config.RateLimitConfig{Limit: 200, Window: config.Duration(time.Second), Burst: 50}
		cfg.Exchanges[id] = e
	}
	require.NoError(t, cfg.Validate())
	return cfg
}

// syncBuffer collects a daemon's log for the failure message.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningDaemon is daemon.Run in a goroutine.
type runningDaemon struct {
	cfg    config.Config
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

// startDaemon runs the daemon until stop (or the test's end).
func startDaemon(t *testing.T, cfg config.Config) *runningDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDaemon{cfg: cfg, cancel: cancel, done: make(chan error, 1), log: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(d.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { d.done <- daemon.Run(ctx, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(daemon.DrainTimeout + 15*time.Second):
			t.Errorf("daemon %s did not stop", cfg.Instance)
		}
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", cfg.Instance, d.log.String())
		}
	})
	waitHTTP(t, cfg.Listen, d.done)
	return d
}

// stop cancels the daemon and returns Run's result.
func (d *runningDaemon) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(daemon.DrainTimeout + 15*time.Second):
		t.Fatalf("daemon did not stop; log:\n%s", d.log.String())
		return nil
	}
}

// waitHTTP waits until the daemon answers /healthz, failing early if Run
// returned.
func waitHTTP(t *testing.T, addr string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("daemon stopped at start: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon never answered on %s", addr)
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
	_, portS, err := net.SplitHostPort(freeAddr(t))
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
