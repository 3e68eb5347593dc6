package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon/daemontest"
)

// Targets of the daemon's load benchmark (issue 4): four exchanges with
// 1,000 symbols each at the 5 s ticker cadence.
const (
	targetCores = 0.5
	targetP99   = time.Second
)

// BenchmarkDaemonLoad runs the built daemon as a process against
// exchange-replay (another process, so its CPU is not counted) serving four
// exchanges with MDINGEST_BENCH_SYMBOLS (default 1000) generated symbols
// each, rate limits off in the replay and raised in the daemon, tickers
// every 5 s. After the start-up burst (markets, then candles and trades of
// every symbol once) it measures a window of MDINGEST_BENCH_WINDOW (default
// 60s): the daemon's CPU seconds per wall second (/proc/PID/stat), the
// writer's latency from request start to rows durable
// (mdingest_writer_batch_latency_seconds), rows stored per second and peak
// RSS (VmHWM). MDINGEST_BENCH_FLUSH_INTERVAL overrides the writer's
// store.flush_interval. The ratios to the targets are printed; a ratio
// above 1 misses the target.
func BenchmarkDaemonLoad(b *testing.B) {
	symbols := envInt(b, "MDINGEST_BENCH_SYMBOLS", 1000)
	window := envDuration(b, "MDINGEST_BENCH_WINDOW", 60*time.Second)
	exchanges := benchExchanges
	dir := b.TempDir()
	replayURL := startBenchReplay(b, dir, symbols)
	rs := startRedis(b, "")
	dbURL := migratedDB(b)
	pool := openPool(b, dbURL)

	listen := daemontest.FreeAddr(b)
	var y strings.Builder
	flush := "" // the product's default unless MDINGEST_BENCH_FLUSH_INTERVAL says otherwise
	if v := envDuration(b, "MDINGEST_BENCH_FLUSH_INTERVAL", 0); v > 0 {
		flush = ", flush_interval: " + v.String()
	}
	fmt.Fprintf(&y, "listen: %s\nlog_level: warn\nstore: {timescaledb: \"off\"%s}\n", listen, flush)
	fmt.Fprintf(&y, "jobs: {realtime: 5s, high: 5s}\n")
	writeBenchExchanges(&y, replayURL, symbols)
	cfgPath := filepath.Join(dir, "bench.yaml")
	require.NoError(b, os.WriteFile(cfgPath, []byte(y.String()), 0o600))

	daemonLog := &daemontest.Buffer{}
	started := time.Now()
	d := startProcess(b, filepath.Join(dir, "mdingest"), []string{"DATABASE_URL=" + dbURL, "REDIS_URL=" + rs.URL()}, daemonLog,
		"run", "--config", cfgPath)
	waitGet(b, "http://"+listen+"/healthz")

	waitStartUp(b, pool, daemonLog)
	warmup := time.Since(started)
	time.Sleep(5 * time.Second) // let the writer catch up with the burst

	cpu0, at0 := cpuSeconds(b, d.pid()), time.Now()
	m0 := scrape(b, listen)
	b.ResetTimer()
	time.Sleep(window)
	b.StopTimer()
	cpu1, at1 := cpuSeconds(b, d.pid()), time.Now()
	m1 := scrape(b, listen)
	hwm, rss := memory(b, d.pid())
	wall := at1.Sub(at0).Seconds()

	// Stop it as an operator would; it must drain and exit 0.
	require.NoError(b, d.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(b, d.wait(time.Minute), daemonLog.String())

	cores := (cpu1 - cpu0) / wall
	// The start-up burst, from the process start to the window.
	upWall := at0.Sub(started).Seconds()
	upLat := histogramDelta(nil, m0, "mdingest_writer_batch_latency_seconds", []string{"candles", "trades"})
	upRows := counterDelta(nil, m0, "mdingest_writer_rows_total", map[string]string{"result": "inserted"}, []string{"candles", "trades"})
	market := []string{"tickers", "order_books", "candles", "trades"}
	lat := histogramDelta(m0, m1, "mdingest_writer_batch_latency_seconds", market)
	tick := histogramDelta(m0, m1, "mdingest_writer_batch_latency_seconds", []string{"tickers"})
	inserted := counterDelta(m0, m1, "mdingest_writer_rows_total", map[string]string{"result": "inserted"}, nil)
	marketRows := counterDelta(m0, m1, "mdingest_writer_rows_total", map[string]string{"result": "inserted"}, market)
	// The same latency at a finer grain than the histogram's buckets: from
	// the start of each tickers run (one request) to the start of the
	// transaction that inserted its rows (received_at defaults to now()).
	var dbP50, dbP99 float64
	var dbRuns int64
	require.NoError(b, pool.QueryRow(context.Background(), `WITH runs AS (
		SELECT exchange, started_at, lead(started_at) OVER (PARTITION BY job ORDER BY started_at) AS next
		FROM ops.job_runs WHERE job LIKE 'tickers/%' AND outcome = 'ok'), lat AS (
		SELECT extract(epoch FROM (SELECT max(t.received_at) FROM market.tickers t WHERE t.exchange = r.exchange
			AND t.received_at >= r.started_at AND t.received_at < r.next) - r.started_at) AS s
		FROM runs r WHERE r.started_at >= $1 AND r.started_at < $2 AND r.next IS NOT NULL)
		SELECT count(s), coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY s), 0),
		coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY s), 0) FROM lat`, at0, at1.Add(-5*time.Second)).Scan(&dbRuns, &dbP50, &dbP99))
	var tickerRuns, tickerErrs int64
	var tickerAvg float64
	require.NoError(b, pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER (WHERE outcome = 'error'),
		coalesce(avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE outcome = 'ok'), 0)
		FROM ops.job_runs WHERE job LIKE 'tickers/%' AND started_at >= $1 AND started_at < $2`, at0, at1).Scan(&tickerRuns, &tickerErrs, &tickerAvg))

	b.ReportMetric(cores, "cpu-cores")
	b.ReportMetric(lat.quantile(0.5), "p50-s")
	b.ReportMetric(lat.quantile(0.99), "p99-s")
	b.ReportMetric(marketRows/wall, "market-rows/s")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MB")
	b.Logf(`daemon load: %d exchanges x %d symbols, tickers every 5s, measured over %.0fs after a %.0fs start-up (redis on, replay in its own process)
  CPU                          %.3f cores (%.2f CPU-s per wall-s)      target < %.1f   ratio %.2f
  batch latency, market tables p50 %.3fs  p99 %.3fs  (%d batches; p99 bucket %s)  target p99 < %s ratio %.2f
  batch latency, tickers       p50 %.3fs  p99 %.3fs  (%d batches)
  tickers, run start to insert p50 %.3fs  p99 %.3fs  (%d runs, from ops.job_runs and received_at)
  rows stored                  %.0f market rows/s, %.0f rows/s with ops tables
  ticker runs in the window    %d ok, %d failed, %.3fs each on average (4 exchanges, one run per 5s each: %d expected)
  peak RSS (VmHWM)             %.1f MiB (VmRSS at the end %.1f MiB)
  start-up burst               %.0fs: %.2f cores, %.0f candle and trade rows (%.0f/s), batch latency p50 %.1fs p99 %.1fs`,
		len(exchanges), symbols, wall, warmup.Seconds(),
		cores, cores, targetCores, cores/targetCores,
		lat.quantile(0.5), lat.quantile(0.99), int64(lat.total), lat.bucketOf(0.99), targetP99, lat.quantile(0.99)/targetP99.Seconds(),
		tick.quantile(0.5), tick.quantile(0.99), int64(tick.total),
		dbP50, dbP99, dbRuns,
		marketRows/wall, inserted/wall,
		tickerRuns, tickerErrs, tickerAvg, int(wall/5)*len(exchanges),
		float64(hwm)/(1<<20), float64(rss)/(1<<20),
		upWall, cpu0/upWall, upRows, upRows/upWall, upLat.quantile(0.5), upLat.quantile(0.99))
	if lat.total == 0 || marketRows == 0 {
		b.Fatalf("nothing stored in the window; log:\n%s", daemonLog.String())
	}
}

// benchExchanges are the exchanges the daemon benchmarks load; the others
// are off.
var benchExchanges = []string{"binance", "kraken", "kucoin", "okx"}

// startBenchReplay builds mdingest and exchange-replay into dir and starts
// the replay, serving symbols generated symbols per exchange without rate
// limits. It returns the replay's URL.
func startBenchReplay(b *testing.B, dir string, symbols int) string {
	for _, cmd := range []string{"mdingest", "exchange-replay"} {
		goBuild(b, filepath.Join(dir, cmd), "github.com/mdingest/mdingest/cmd/"+cmd)
	}
	fixtures, err := filepath.Abs("../../testdata/replay")
	require.NoError(b, err)
	addr := daemontest.FreeAddr(b)
	startProcess(b, filepath.Join(dir, "exchange-replay"), nil, nil, "--listen", addr, "--fixtures", fixtures,
		"--symbols", "BTC/USDT", "--scale", strconv.Itoa(symbols), "--rate-limit", "none")
	url := "http://" + addr
	waitGet(b, url+"/_admin/routes")
	return url
}

// writeBenchExchanges writes the exchanges section of a benchmark's
// configuration: benchExchanges on the replay at replayURL with all its
// generated symbols and limits far above what they send, the others off.
func writeBenchExchanges(y *strings.Builder, replayURL string, symbols int) {
	syms := make([]string, symbols)
	syms[0] = "BTC/USDT"
	for i := 1; i < symbols; i++ {
		syms[i] = fmt.Sprintf("BTC%d/USDT", i) // the replay's generated names
	}
	fmt.Fprintf(y, "exchanges:\n")
	for _, ex := range []string{"htx", "bybit", "coinbaseexchange", "bitstamp"} {
		fmt.Fprintf(y, "  %s: {enabled: false}\n", ex)
	}
	for _, ex := range benchExchanges {
		fmt.Fprintf(y, "  %s: {enabled: true, base_url: \"%s/%s\", rate_limit: {limit: 1000000, window: 1s, burst: 100000}, symbols: [%s]}\n",
			ex, replayURL, ex, strings.Join(syms, ", "))
	}
}

// waitStartUp waits for the end of the start-up burst: every exchange has
// loaded candles and trades of all its symbols once and stored tickers.
func waitStartUp(b *testing.B, pool *pgxpool.Pool, daemonLog *daemontest.Buffer) {
	want := int64(3 * len(benchExchanges))
	deadline := time.Now().Add(5 * time.Minute)
	for {
		done := count(b, pool, `SELECT count(DISTINCT job) FROM ops.job_runs WHERE outcome = 'ok' AND split_part(job, '/', 1) IN ('ohlcv', 'trades', 'tickers')`)
		if done >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("start-up not done after 5 minutes (%d of %d jobs); log:\n%s", done, want, daemonLog.String())
		}
		time.Sleep(time.Second)
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, name)
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(b, err, name)
	return d
}

func goBuild(b *testing.B, out, pkg string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	outb, err := cmd.CombinedOutput()
	require.NoError(b, err, "go build %s: %s", pkg, outb)
}

// process is a child process owned by a benchmark.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) wait(timeout time.Duration) error {
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(timeout):
		return fmt.Errorf("process %d did not exit within %s", p.pid(), timeout)
	}
}

// startProcess starts bin with env added, killed at the benchmark's end; output goes to
// log (nil: discarded).
func startProcess(b *testing.B, bin string, env []string, log io.Writer, args ...string) *process {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	require.NoError(b, cmd.Start())
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func waitGet(b *testing.B, url string) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	b.Fatalf("%s never answered", url)
}

// cpuSeconds is the user plus system CPU time of a process.
func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err := strconv.ParseFloat(f[11], 64)
	require.NoError(b, err)
	stime, err := strconv.ParseFloat(f[12], 64)
	require.NoError(b, err)
	return (utime + stime) / clockTicks()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// memory returns a process's peak and current resident set, in bytes.
func memory(b *testing.B, pid int) (hwm, rss int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k != "VmHWM" && k != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		require.NoError(b, err)
		if k == "VmHWM" {
			hwm = kb << 10
		} else {
			rss = kb << 10
		}
	}
	require.Positive(b, hwm, "no VmHWM in /proc/PID/status")
	return hwm, rss
}

// sample is one series of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads /metrics; the text format is simple enough to split by hand.
func scrape(b *testing.B, addr string) []sample {
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(b, err)
	defer resp.Body.Close()
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s := sample{name: line[:i], labels: map[string]string{}, value: v}
		if j := strings.IndexByte(s.name, '{'); j >= 0 {
			for _, kv := range strings.Split(strings.TrimSuffix(s.name[j+1:], "}"), ",") {
				k, val, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(val, `"`)
			}
			s.name = s.name[:j]
		}
		out = append(out, s)
	}
	require.NoError(b, sc.Err())
	return out
}

func matches(s sample, name string, want map[string]string, tables []string) bool {
	if s.name != name {
		return false
	}
	for k, v := range want {
		if s.labels[k] != v {
			return false
		}
	}
	if tables == nil {
		return true
	}
	for _, t := range tables {
		if s.labels["table"] == t {
			return true
		}
	}
	return false
}

// counterDelta sums a counter's growth over the matching series.
func counterDelta(m0, m1 []sample, name string, want map[string]string, tables []string) float64 {
	sum := func(m []sample) float64 {
		t := 0.0
		for _, s := range m {
			if matches(s, name, want, tables) {
				t += s.value
			}
		}
		return t
	}
	return sum(m1) - sum(m0)
}

// histogram is the growth of a histogram's cumulative buckets.
type histogram struct {
	bounds []float64 // upper bounds, +Inf last
	counts []float64 // cumulative
	total  float64
}

func histogramDelta(m0, m1 []sample, name string, tables []string) histogram {
	acc := map[float64]float64{}
	add := func(m []sample, sign float64) {
		for _, s := range m {
			if !matches(s, name+"_bucket", nil, tables) {
				continue
			}
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err != nil {
				continue
			}
			acc[le] += sign * s.value
		}
	}
	add(m1, 1)
	add(m0, -1)
	var h histogram
	for le := range acc {
		h.bounds = append(h.bounds, le)
	}
	sort.Float64s(h.bounds)
	for _, le := range h.bounds {
		h.counts = append(h.counts, acc[le])
	}
	if n := len(h.counts); n > 0 {
		h.total = h.counts[n-1]
	}
	return h
}

// quantile interpolates linearly inside the bucket holding rank q, as
// PromQL's histogram_quantile does.
func (h histogram) quantile(q float64) float64 {
	if h.total == 0 {
		return math.NaN()
	}
	rank := q * h.total
	prevBound, prevCount := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return prevBound
			}
			if c == prevCount {
				return h.bounds[i]
			}
			return prevBound + (h.bounds[i]-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = h.bounds[i], c
	}
	return prevBound
}

// bucketOf names the bucket holding rank q: the histogram says no more.
func (h histogram) bucketOf(q float64) string {
	rank := q * h.total
	lower := 0.0
	for i, c := range h.counts {
		if c >= rank {
			return fmt.Sprintf("(%gs, %gs]", lower, h.bounds[i])
		}
		lower = h.bounds[i]
	}
	return "none"
}
