package replaytest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/ratelimit"
	"github.com/mdingest/mdingest/internal/replay"
)

// Binance's real budget, as the connector's spec has it.
const (
	binanceLimit  = 6000
	binanceWindow = time.Minute
	// serverAhead puts the stand-in's clock ahead of ours, so that its
	// minutes end at our :36.6, as a real exchange's clock differs from
	// ours: the limiter must follow the server's minutes, not its own.
	serverAhead = 23400 * time.Millisecond
)

// etiquetteResult is what one run measured, from the server's side.
type etiquetteResult struct {
	perWindow     []float64 // use of each full window (server minutes) while the backfill saturated
	mean          float64
	refused       int // 429
	banned        int // 418
	criticalN     int
	criticalP50   time.Duration
	criticalP99   time.Duration
	criticalMax   time.Duration
	lowRequests   int
	errors        int
	firstFailure  error
	elapsed       time.Duration
	windowsWanted int
}

// waitLog records how long each Acquire waited, by priority: the time a
// request spent waiting for the limiter, as ratelimit_wait_seconds counts
// it, but exact rather than bucketed.
type waitLog struct {
	mu    sync.Mutex
	waits map[priority.Priority][]time.Duration
}

func (w *waitLog) add(p priority.Priority, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[priority.Priority][]time.Duration{}
	}
	w.waits[p] = append(w.waits[p], d)
}

func (w *waitLog) of(p priority.Priority) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.waits[p])
}

// timedLimiter is the client's limiter with each Acquire timed.
type timedLimiter struct {
	*ratelimit.Limiter
	log *waitLog
}

func (l timedLimiter) Acquire(ctx context.Context, cost int) (*ratelimit.Ticket, error) {
	t0 := time.Now()
	tk, err := l.Limiter.Acquire(ctx, cost)
	l.log.add(priority.From(ctx), time.Since(t0))
	return tk, err
}

// benchWindows is how many full server minutes a run measures:
// $MDINGEST_BENCH_WINDOWS, default 3.
func benchWindows(b *testing.B) int {
	if v := os.Getenv("MDINGEST_BENCH_WINDOWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MDINGEST_BENCH_WINDOWS=%q: want a whole number >= 1", v)
		}
		return n
	}
	return 3
}

// BenchmarkBinanceEtiquette runs a backfill against exchange-replay as a
// strict stand-in for Binance at its real limits: 6000 weight per calendar
// minute of the server's clock (23.4 s ahead of ours), 429 past it, and a
// 418 ban for a client that sends again before a 429's Retry-After. Beside
// the backfill (low priority, 16 workers, klines of weight 2), a daemon's
// load: critical order books for 4 symbols every 2 s and high-priority
// tickers every 10 s.
//
//   - one-process: daemon load and backfill share one limiter;
//   - daemon+backfill: they are two processes sharing one Redis: two
//     independent limiters, HTTP clients and Redis connections on one
//     egress.
//
// Each reports the use of every full server minute while the backfill
// saturated it (goal >= 0.95 each), the 429s and 418s (goal 0), and how
// long critical requests waited for the limiter (goal p99 < 1 s). A run
// takes MDINGEST_BENCH_WINDOWS (default 3) minutes plus up to one to
// reach the first full minute.
func BenchmarkBinanceEtiquette(b *testing.B) {
	windows := benchWindows(b)
	for _, processes := range []int{1, 2} {
		name := map[int]string{1: "one-process", 2: "daemon+backfill"}[processes]
		b.Run(name, func(b *testing.B) {
			var r etiquetteResult
			for range b.N {
				r = runEtiquette(b, processes, windows)
			}
			shares := make([]string, len(r.perWindow))
			for i, u := range r.perWindow {
				shares[i] = fmt.Sprintf("%.3f", u)
			}
			fmt.Printf(`
--- binance etiquette, %s (6000 weight per server minute, strict stand-in, %s) ---
use per full window           [%s]  mean %.3f  (goal >= 0.95 each)
429 responses                 %d  (goal 0)
418 responses                 %d  (goal 0)
critical wait for the limiter p50 %s  p99 %s  max %s  (%d requests; goal p99 < 1s)
backfill requests             %d  (%d failed)
`, name, r.elapsed.Round(time.Second), strings.Join(shares, ", "), r.mean, r.refused, r.banned,
				r.criticalP50.Round(time.Microsecond), r.criticalP99.Round(time.Microsecond), r.criticalMax.Round(time.Microsecond),
				r.criticalN, r.lowRequests, r.errors)
			if r.firstFailure != nil {
				fmt.Printf("first failure: %v\n", r.firstFailure)
			}
			b.ReportMetric(r.mean, "window-use")
			b.ReportMetric(float64(r.refused), "429s")
			b.ReportMetric(float64(r.banned), "418s")
			b.ReportMetric(float64(r.criticalP99.Microseconds())/1e3, "critical-p99-ms")
		})
	}
}

func runEtiquette(b *testing.B, processes, windows int) etiquetteResult {
	s := newServer(b, replay.Options{
		RateLimits: map[string]bool{"binance": true},
		Strict:     true,
		Now:        func() time.Time { return time.Now().Add(serverAhead) },
	})
	// Each process: its own limiter, HTTP client and Redis connection,
	// sharing the budget of one egress through Redis.
	prefix := "mdingest:bench:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	url := pgtest.RequireRedis(b)
	opts, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	waits := &waitLog{}
	mk := func() *client {
		o := clientOpts{reserve: ratelimit.DefaultReserve, waits: waits, timeout: 30 * time.Second}
		if processes > 1 {
			rdb := redis.NewClient(opts)
			b.Cleanup(func() { _ = rdb.Close() })
			o.shared, o.keyPrefix, o.egress = rdb, prefix, "bench-host"
		}
		return newClient(b, s, "binance", o)
	}
	daemon := mk()
	backfill := daemon
	if processes > 1 {
		backfill = mk()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	symbols := []market.Symbol{"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}

	// The first full server minute starts at the next boundary; the run
	// ends after the last full one.
	start := time.Now()
	serverStart := start.Add(serverAhead)
	first := serverStart.Truncate(binanceWindow).Add(binanceWindow)
	end := first.Add(time.Duration(windows) * binanceWindow).Add(-serverAhead) // local time

	var (
		mu       sync.Mutex
		errs     int
		firstErr error
		lowN     int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs++
		if firstErr == nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	low := priority.With(ctx, priority.Low)
	history := time.Now().Add(-4 * 365 * 24 * time.Hour).Truncate(time.Hour)
	for w := range 16 {
		wg.Go(func() {
			for page := 0; time.Now().Before(end); page++ {
				// Walk forward through 4 years of 1m candles, 500 a page.
				since := history.Add(time.Duration(page*16+w) * 500 * time.Minute)
				if _, err := backfill.OHLCV(low, symbols[w%len(symbols)], market.TF1m, since, 500); err != nil && ctx.Err() == nil {
					fail(err)
				}
				mu.Lock()
				lowN++
				mu.Unlock()
			}
		})
	}
	every := func(d time.Duration, prio priority.Priority, call func(context.Context)) {
		wg.Go(func() {
			pctx := priority.With(ctx, prio)
			t := time.NewTicker(d)
			defer t.Stop()
			for time.Now().Before(end) {
				call(pctx)
				<-t.C
			}
		})
	}
	every(2*time.Second, priority.Critical, func(pctx context.Context) {
		var books sync.WaitGroup
		for _, sym := range symbols {
			books.Go(func() {
				if _, err := daemon.OrderBook(pctx, sym, 20); err != nil && ctx.Err() == nil {
					fail(err)
				}
			})
		}
		books.Wait()
	})
	every(10*time.Second, priority.High, func(pctx context.Context) {
		if _, err := daemon.Tickers(pctx, symbols); err != nil && ctx.Err() == nil {
			fail(err)
		}
	})
	wg.Wait()

	r := etiquetteResult{elapsed: time.Since(start), errors: errs, firstFailure: firstErr, lowRequests: lowN, windowsWanted: windows}
	for _, route := range s.h.Stats()["binance"].Routes {
		r.refused += int(route.RateLimited)
		r.banned += int(route.Banned)
	}
	// The server's count of each minute: the highest usage it reported in
	// it (its Date says which minute).
	used := map[int64]int{}
	for _, e := range s.served() {
		if e.used >= 0 && !e.date.IsZero() {
			k := e.date.UnixNano() / int64(binanceWindow)
			used[k] = max(used[k], e.used)
		}
	}
	for k := first.UnixNano() / int64(binanceWindow); k < first.UnixNano()/int64(binanceWindow)+int64(windows); k++ {
		r.perWindow = append(r.perWindow, float64(used[k])/binanceLimit)
		r.mean += float64(used[k]) / binanceLimit / float64(windows)
	}
	crit := waits.of(priority.Critical)
	r.criticalN = len(crit)
	r.criticalP50, r.criticalP99, r.criticalMax = quantile(crit, 0.5), quantile(crit, 0.99), quantile(crit, 1)
	return r
}

// served entries carry the answer's Date (the server's clock).
func parseDate(h http.Header) time.Time {
	t, _ := http.ParseTime(h.Get("Date"))
	return t
}
