package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon/daemontest"
)

// The soak's fixed choices.
const (
	// soakFaulted is the exchange the faults hit. Kraken, because its OHLC
	// endpoint has no limit parameter anyway (its candles are not
	// comparable, see candlesServedInFull), so the healthy three keep the
	// most comparable data.
	soakFaulted = "kraken"
	// soakApp names the daemon's database sessions, so the outage ends
	// them and no other.
	soakApp = "mdingest-soak"
)

// candlesServedInFull says which exchanges' candle answers hold only the
// candles the daemon asked for. The others have no limit parameter: the
// replay serves their whole window (Kraken 720, KuCoin 1500 candles) and
// the connector keeps the latest few, so served keys far exceed stored
// ones by design.
var candlesServedInFull = map[string]bool{"binance": true, "okx": true}

// soakFaults: 20% 503s, and now and then a hang (the client's timeout
// ends it) or a body cut in half (a decode error, the raw body kept in
// ops.rejected_rows).
var soakFaults = []map[string]any{
	{"exchange": soakFaulted, "effect": "503", "probability": 0.2},
	{"exchange": soakFaulted, "effect": "hang", "probability": 0.01},
	{"exchange": soakFaulted, "effect": "truncate", "probability": 0.02},
}

// BenchmarkSoak runs the daemon for MDINGEST_SOAK_DURATION (default 10m)
// at the load of BenchmarkDaemonLoad (4 exchanges x MDINGEST_BENCH_SYMBOLS
// symbols, default 1000, tickers every 5 s), with faults on one exchange
// and a database outage in the middle (60 s per 10 minutes of soak, at
// least 10 s), then checks that nothing served was lost nor stored twice.
// Candles and trades keep the product's 5-minute tier, so they meet the
// outage only when a run overlaps it; MDINGEST_SOAK_MEDIUM (e.g. 1m)
// polls them more often, at more load than the daemon benchmark's.
//
// The outage: the daemon reaches PostgreSQL through a TCP gate that the
// soak closes. Its sessions are ended with pg_terminate_backend (the
// 57P01 admin_shutdown a fast server stop sends) and new connections are
// refused until the gate opens again: what a stopped server looks like
// from the client, without stopping the PostgreSQL other tests share.
//
// What is compared: the replay's key log counts the distinct keys it
// served in intact answers (a 200 no fault changed). Tickers: every row
// served is a new key (the replay moves times to now on every answer),
// so stored + rejected must equal served. Order books: one snapshot per
// answer. Trades: distinct trades served, which overlap from poll to
// poll. Candles: distinct (symbol, open time), where the answer holds
// only what was asked for (candlesServedInFull). The healthy exchanges
// must match exactly; the faulted one is shown.
func BenchmarkSoak(b *testing.B) {
	dur := envDuration(b, "MDINGEST_SOAK_DURATION", 10*time.Minute)
	symbols := envInt(b, "MDINGEST_BENCH_SYMBOLS", 1000)
	outage := max(10*time.Second, time.Duration(float64(time.Minute)*dur.Seconds()/600))
	exchanges := benchExchanges
	dir := b.TempDir()
	replayURL := startBenchReplay(b, dir, symbols)
	adminPost(b, replayURL+"/_admin/keylog", nil)
	rs := startRedis(b, "")
	dbURL := migratedDB(b)
	pool := openPool(b, dbURL)
	gate := openGate(b, dbURL)

	listen := daemontest.FreeAddr(b)
	var y strings.Builder
	fmt.Fprintf(&y, "listen: %s\nlog_level: warn\ninstance: soak\n", listen)
	fmt.Fprintf(&y, "store: {timescaledb: \"off\", spool_dir: %q}\n", filepath.Join(dir, "spool"))
	medium := "" // the product's default unless MDINGEST_SOAK_MEDIUM says otherwise
	if v := envDuration(b, "MDINGEST_SOAK_MEDIUM", 0); v > 0 {
		medium = ", medium: " + v.String()
	}
	fmt.Fprintf(&y, "jobs: {realtime: 5s, high: 5s%s}\n", medium)
	writeBenchExchanges(&y, replayURL, symbols)
	cfgPath := filepath.Join(dir, "soak.yaml")
	require.NoError(b, os.WriteFile(cfgPath, []byte(y.String()), 0o600))

	daemonLog := &daemontest.Buffer{}
	started := time.Now()
	d := startProcess(b, filepath.Join(dir, "mdingest"), []string{"DATABASE_URL=" + gate.url, "REDIS_URL=" + rs.URL()}, daemonLog,
		"run", "--config", cfgPath)
	waitGet(b, "http://"+listen+"/healthz")
	waitStartUp(b, pool, daemonLog)
	warmup := time.Since(started)

	// The soak proper.
	adminPost(b, replayURL+"/_admin/faults", soakFaults)
	m0 := scrape(b, listen)
	cpu0, at0 := cpuSeconds(b, d.pid()), time.Now()
	b.ResetTimer()
	w := watcher{addr: listen}
	outageAt := at0.Add(dur/2 - outage/2)
	w.until(b, outageAt)
	gate.close(b, pool)
	w.until(b, outageAt.Add(outage))
	gate.open(b)
	back := time.Now()
	w.until(b, at0.Add(dur))
	b.StopTimer()
	cpu1, at1 := cpuSeconds(b, d.pid()), time.Now()

	// Quiesce: every exchange answers 503 from now on, so the served counts
	// stop; then wait until what was served is through the writer.
	adminDelete(b, replayURL+"/_admin/faults")
	adminPost(b, replayURL+"/_admin/faults", map[string]any{"exchange": "*", "effect": "503"})
	time.Sleep(5 * time.Second)
	idleBy := time.Now().Add(2 * time.Minute)
	for idle := 0; idle < 2; time.Sleep(time.Second) {
		st := w.status(b)
		if st.QueueDepth == 0 && st.Spool.PendingBatches == 0 && gauge(scrape(b, listen), "mdingest_writer_pending_rows") == 0 {
			idle++
		} else {
			idle = 0
		}
		require.True(b, time.Now().Before(idleBy), "the writer did not go idle; log:\n%s", daemonLog.String())
	}
	served := replayStats(b, replayURL)
	m1 := scrape(b, listen)
	hwm, rss := memory(b, d.pid())

	require.NoError(b, d.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(b, d.wait(time.Minute), "the daemon must drain and exit 0; log:\n%s", daemonLog.String())

	// What was stored, against what was served.
	stored := storedCounts(b, pool)
	kinds := []string{"ticker", "orderbook", "ohlcv", "trades"}
	var out strings.Builder
	var lost []string
	fmt.Fprintf(&out, "%-9s %-10s %12s %12s %12s %9s  %s\n", "exchange", "type", "rows served", "keys served", "stored", "rejected", "verdict")
	totals := map[string][2]int64{}
	for _, ex := range exchanges {
		for _, kind := range kinds {
			rows, keys := served[ex].Rows[kind], served[ex].Keys[kind]
			st, rej := stored.rows[ex][kind], stored.rejected[ex][kind]
			t := totals[kind]
			totals[kind] = [2]int64{t[0] + rows, t[1] + st}
			verdict := "equal"
			switch {
			case kind == "ohlcv" && !candlesServedInFull[ex]:
				verdict = "not comparable: served whole windows, the connector keeps the latest 3"
				if st > keys {
					verdict = "MORE STORED THAN SERVED"
					lost = append(lost, fmt.Sprintf("%s %s: %d stored, %d served", ex, kind, st, keys))
				}
			case st+rej < keys && ex == soakFaulted:
				verdict = fmt.Sprintf("%d missing (faulted exchange, not asserted)", keys-st-rej)
			case st+rej < keys:
				verdict = fmt.Sprintf("LOST %d", keys-st-rej)
				lost = append(lost, fmt.Sprintf("%s %s: %d served, %d stored, %d rejected", ex, kind, keys, st, rej))
			case st > keys:
				verdict = fmt.Sprintf("MORE STORED THAN SERVED (%d)", st-keys)
				lost = append(lost, fmt.Sprintf("%s %s: %d stored, %d served", ex, kind, st, keys))
			case st+rej > keys:
				verdict = "none lost (a row rejected again in a later poll counts again)"
			}
			fmt.Fprintf(&out, "%-9s %-10s %12d %12d %12d %9d  %s\n", ex, kind, rows, keys, st, rej, verdict)
		}
	}
	for _, kind := range kinds {
		fmt.Fprintf(&out, "%-9s %-10s %12d %12s %12d\n", "all", kind, totals[kind][0], "", totals[kind][1])
	}
	dups := duplicates(b, pool)

	wall := at1.Sub(at0).Seconds()
	highWater := gauge(m1, "mdingest_spool_bytes_high_water")
	dropped := counterDelta(nil, m1, "mdingest_writer_rows_dropped_total", nil, nil)
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MB")
	b.ReportMetric(highWater/(1<<20), "spool-high-water-MB")
	b.ReportMetric(gauge(m1, "go_goroutines")-gauge(m0, "go_goroutines"), "goroutines-grown")
	// Printed, not logged: the testing package cuts a benchmark's log to
	// ten lines.
	fmt.Printf(`soak: %d exchanges x %d symbols, tickers every 5s, %.0fs after a %.0fs start-up; faults on %s (20%% 503, 1%% hang, 2%% truncated)
  database outage              %.0fs from %.0fs in (sessions ended, connections refused); spool drained %s after it
  spool                        high water %.1f MiB, at most %d batches pending, pressure up to %q; %.0f rows spooled, %.0f replayed, %.0f dropped
  CPU                          %.3f cores over the soak
  peak RSS (VmHWM)             %.1f MiB (VmRSS at the end %.1f MiB)
  goroutines (go_goroutines)   %.0f at the start, %.0f at the end
  requests to %-8s         %d, %d of them faulted
  rows: "rows served" is every row the replay sent (candles and trades overlap between polls, and
  answers the daemon could not use count too); "keys served" counts distinct keys of intact answers
  (tickers: every row, as each answer is a new observation; order books: one snapshot per answer);
  "stored" is rows in the market tables (unique keys), "rejected" rows in ops.rejected_rows (validation).
%s  stored twice                 %s
`,
		len(exchanges), symbols, wall, warmup.Seconds(), soakFaulted,
		outage.Seconds(), outageAt.Sub(at0).Seconds(), w.drainedAfter(back),
		highWater/(1<<20), w.maxPending, w.maxPressure,
		counterDelta(nil, m1, "mdingest_writer_rows_spooled_total", nil, nil),
		counterDelta(nil, m1, "mdingest_writer_rows_replayed_total", nil, nil), dropped,
		(cpu1-cpu0)/wall,
		float64(hwm)/(1<<20), float64(rss)/(1<<20),
		gauge(m0, "go_goroutines"), gauge(m1, "go_goroutines"),
		soakFaulted, served[soakFaulted].requests(), served[soakFaulted].faults(),
		out.String(), dups)
	if len(lost) > 0 {
		b.Fatalf("data lost or made up:\n  %s", strings.Join(lost, "\n  "))
	}
	if dups != "none" {
		b.Fatalf("stored twice: %s", dups)
	}
	if dropped > 0 {
		b.Fatalf("%.0f rows dropped by the writer", dropped)
	}
	if w.maxPending == 0 {
		fmt.Println("note: the outage left nothing in the spool (the writer's in-memory retries covered it)")
	}
}

// gate is a TCP proxy between the daemon and PostgreSQL that the soak
// closes for the outage.
type gate struct {
	url    string // the database URL through the gate
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func openGate(b *testing.B, dbURL string) *gate {
	u, err := url.Parse(dbURL)
	require.NoError(b, err)
	g := &gate{addr: daemontest.FreeAddr(b), target: u.Host, conns: map[net.Conn]bool{}}
	u.Host = g.addr
	q := u.Query()
	q.Set("application_name", soakApp)
	u.RawQuery = q.Encode()
	g.url = u.String()
	g.open(b)
	b.Cleanup(func() {
		g.shut()
		g.wg.Wait()
	})
	return g
}

func (g *gate) open(b *testing.B) {
	ln, err := net.Listen("tcp", g.addr)
	require.NoError(b, err)
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.pipe(c)
		}
	}()
}

func (g *gate) pipe(c net.Conn) {
	s, err := net.Dial("tcp", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	g.conns[c], g.conns[s] = true, true
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		var copies sync.WaitGroup
		copies.Add(2)
		for _, p := range [][2]net.Conn{{c, s}, {s, c}} {
			go func() {
				defer copies.Done()
				_, _ = io.Copy(p[0], p[1])
				_ = p[0].Close() // one side ended: end the other
				_ = p[1].Close()
			}()
		}
		copies.Wait()
		g.mu.Lock()
		delete(g.conns, c)
		delete(g.conns, s)
		g.mu.Unlock()
	}()
}

// close refuses new connections and ends the daemon's sessions the way a
// fast shutdown does (57P01 admin_shutdown), then cuts what is left.
func (g *gate) close(b *testing.B, pool *pgxpool.Pool) {
	g.mu.Lock()
	_ = g.ln.Close()
	g.mu.Unlock()
	_, err := pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, soakApp)
	require.NoError(b, err)
	time.Sleep(200 * time.Millisecond) // the FATAL reaches the client
	g.shut()
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.ln.Close()
	for c := range g.conns {
		_ = c.Close()
	}
}

// soakStatus is what the soak reads of /status.
type soakStatus struct {
	QueueDepth int `json:"queue_depth"`
	Spool      struct {
		PendingBatches int    `json:"pending_batches"`
		Pressure       string `json:"pressure"`
	} `json:"spool"`
}

// watcher samples /status once a second.
type watcher struct {
	addr        string
	maxPending  int
	maxPressure string
	lastPending time.Time // the last sample with batches in the spool
}

func (w *watcher) status(b *testing.B) soakStatus {
	resp, err := http.Get("http://" + w.addr + "/status")
	require.NoError(b, err)
	defer resp.Body.Close()
	var st soakStatus
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func (w *watcher) until(b *testing.B, t time.Time) {
	for time.Now().Before(t) {
		st := w.status(b)
		w.maxPending = max(w.maxPending, st.Spool.PendingBatches)
		if st.Spool.PendingBatches > 0 {
			w.lastPending = time.Now()
		}
		if rank(st.Spool.Pressure) > rank(w.maxPressure) {
			w.maxPressure = st.Spool.Pressure
		}
		time.Sleep(min(time.Second, time.Until(t)))
	}
}

func rank(pressure string) int { return map[string]int{"none": 1, "soft": 2, "full": 3}[pressure] }

func (w *watcher) drainedAfter(back time.Time) string {
	if w.lastPending.Before(back) {
		return "at once"
	}
	return fmt.Sprintf("within %.0fs", w.lastPending.Sub(back).Seconds()+1)
}

// replayed is the replay's /_admin/stats of one exchange.
type replayed struct {
	Routes map[string]struct {
		Requests int64 `json:"requests"`
		Faults   int64 `json:"faults"`
	} `json:"routes"`
	Rows map[string]int64 `json:"rows"`
	Keys map[string]int64 `json:"keys"`
}

func (r replayed) requests() (n int64) {
	for _, s := range r.Routes {
		n += s.Requests
	}
	return n
}

func (r replayed) faults() (n int64) {
	for _, s := range r.Routes {
		n += s.Faults
	}
	return n
}

func replayStats(b *testing.B, base string) map[string]replayed {
	resp, err := http.Get(base + "/_admin/stats")
	require.NoError(b, err)
	defer resp.Body.Close()
	var out map[string]replayed
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func adminPost(b *testing.B, u string, body any) {
	raw, err := json.Marshal(body)
	require.NoError(b, err)
	resp, err := http.Post(u, "application/json", bytes.NewReader(raw))
	require.NoError(b, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(b, http.StatusOK, resp.StatusCode, "POST %s: %s", u, msg)
}

func adminDelete(b *testing.B, u string) {
	req, err := http.NewRequest(http.MethodDelete, u, nil)
	require.NoError(b, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode, "DELETE %s", u)
}

// gauge sums a metric's samples.
func gauge(m []sample, name string) float64 {
	v := 0.0
	for _, s := range m {
		if s.name == name {
			v += s.value
		}
	}
	return v
}

// storedRows is what the database holds per exchange and data type.
type storedRows struct {
	rows, rejected map[string]map[string]int64
}

func storedCounts(b *testing.B, pool *pgxpool.Pool) storedRows {
	s := storedRows{rows: map[string]map[string]int64{}, rejected: map[string]map[string]int64{}}
	scan := func(into map[string]map[string]int64, q string) {
		rows, err := pool.Query(context.Background(), q)
		require.NoError(b, err)
		defer rows.Close()
		for rows.Next() {
			var ex, kind string
			var n int64
			require.NoError(b, rows.Scan(&ex, &kind, &n))
			if into[ex] == nil {
				into[ex] = map[string]int64{}
			}
			into[ex][kind] = n
		}
		require.NoError(b, rows.Err())
	}
	scan(s.rows, `SELECT exchange, 'ticker', count(*) FROM market.tickers GROUP BY 1
		UNION ALL SELECT exchange, 'orderbook', count(*) FROM market.order_books GROUP BY 1
		UNION ALL SELECT exchange, 'ohlcv', count(*) FROM market.candles GROUP BY 1
		UNION ALL SELECT exchange, 'trades', count(*) FROM market.trades GROUP BY 1`)
	scan(s.rejected, `SELECT exchange, data_type, count(*) FROM ops.rejected_rows WHERE source = 'validation' GROUP BY 1, 2`)
	return s
}

// duplicates looks for rows stored twice under another key. The market
// tables' primary keys hold their keys once; what they can't catch is a
// trade stored again under another time, or an ops row replayed from the
// spool with a new id.
func duplicates(b *testing.B, pool *pgxpool.Pool) string {
	checks := []struct{ what, q string }{
		{"trades by (exchange, symbol, trade_id)", `SELECT count(*) FROM (SELECT 1 FROM market.trades GROUP BY exchange, symbol, trade_id HAVING count(*) > 1) d`},
		{"job runs by (job, instance, started_at)", `SELECT count(*) FROM (SELECT 1 FROM ops.job_runs GROUP BY job, instance, started_at HAVING count(*) > 1) d`},
		{"request metrics by (exchange, endpoint, ts, attempt)", `SELECT count(*) FROM (SELECT 1 FROM ops.request_metrics GROUP BY exchange, endpoint, ts, attempt HAVING count(*) > 1) d`},
	}
	var found []string
	for _, c := range checks {
		if n := count(b, pool, c.q); n > 0 {
			found = append(found, fmt.Sprintf("%d %s", n, c.what))
		}
	}
	if len(found) == 0 {
		return "none"
	}
	sort.Strings(found)
	return strings.Join(found, "; ")
}
