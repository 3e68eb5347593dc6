package replaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/binance"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/ratelimit"
	"github.com/mdingest/mdingest/internal/replay"
)

// Binance's budget scaled down from 6000 weight per minute (burst 300) to
// 400 per 2 s (burst 20), so that a run covers several windows in seconds.
const (
	benchWindow = 2 * time.Second
	benchLimit  = 400
	benchBurst  = 20
)

// mixResult is what one run of the mixed burst measured.
type mixResult struct {
	windows      int     // full windows while the backfill saturated the budget
	used         int     // weight the replay counted in them
	share        float64 // used / (windows * limit)
	refused      int     // 429s the replay sent
	banned       int     // 418s the replay sent
	criticalN    int
	criticalP50  time.Duration
	criticalP99  time.Duration
	criticalMax  time.Duration
	lowP50       time.Duration
	requests     int
	elapsed      time.Duration
	errors       int
	firstFailure error
}

// BenchmarkRateLimitedMix drives a bounded burst of mixed Binance requests
// at every priority through the real client against exchange-replay as a
// strict stand-in (418 for ignoring a 429) enforcing the scaled budget:
// low-priority backfill (klines, 16 workers) saturates it while medium
// (order books), high (trades) and a critical ticker every 100 ms compete.
// It reports the share of the budget used while saturated (by the server's
// windows), the 429s and 418s, and how long critical requests waited for
// the limiter. BenchmarkBinanceEtiquette does the same at Binance's real
// limits.
func BenchmarkRateLimitedMix(b *testing.B) {
	var r mixResult
	for range b.N {
		r = runMix(b)
	}
	fmt.Printf(`
--- rate-limited mix (binance via exchange-replay, budget %d weight / %s, burst %d) ---
requests                      %d in %s (%d failed)
budget used while saturated   %.3f  (%d of %d weight over %d full windows; target >= 0.95)
429 responses                 %d  (target 0)
418 responses                 %d  (target 0)
critical wait for the limiter p50 %s  p99 %s  max %s  (%d requests)
low-priority call latency     p50 %s
`, benchLimit, benchWindow, benchBurst, r.requests, r.elapsed.Round(time.Millisecond), r.errors,
		r.share, r.used, r.windows*benchLimit, r.windows, r.refused, r.banned,
		r.criticalP50.Round(time.Microsecond), r.criticalP99.Round(time.Microsecond), r.criticalMax.Round(time.Microsecond), r.criticalN,
		r.lowP50.Round(time.Millisecond))
	if r.firstFailure != nil {
		fmt.Printf("first failure: %v\n", r.firstFailure)
	}
	b.ReportMetric(r.share, "budget-share")
	b.ReportMetric(float64(r.refused), "429s")
	b.ReportMetric(float64(r.banned), "418s")
	b.ReportMetric(float64(r.criticalP99.Microseconds())/1e3, "critical-p99-ms")
}

func runMix(b *testing.B) mixResult {
	s := newServer(b, replay.Options{
		RateLimits: map[string]bool{"binance": true},
		Budgets:    map[string]replay.Budget{"binance": {Limit: benchLimit, Window: benchWindow}},
		Strict:     true,
	})
	c := newClient(b, s, "binance", clientOpts{budget: exchange.RateLimit{Limit: benchLimit, Window: benchWindow, Burst: benchBurst},
		reserve: ratelimit.DefaultReserve})
	ctx := testCtx(b)
	symbols := []market.Symbol{"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "LTC/USDT", "BTC/USD", "ETH/USD"}

	// Demand: about eight windows of budget in all, most of it backfill.
	const (
		lowWorkers, lowTotal = 16, 1300 // klines, weight 2
		midWorkers, midTotal = 2, 80    // order book depth 5, weight 5
		hiWorkers, hiTotal   = 2, 60    // recent aggTrades, weight 4
		criticalEvery        = 100 * time.Millisecond
	)
	var (
		mu        sync.Mutex
		errs      int
		firstErr  error
		lowWaits  []time.Duration
		critStart []time.Time
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs++
		if firstErr == nil {
			firstErr = err
		}
	}
	// pool runs total calls of one kind on workers goroutines.
	pool := func(wg *sync.WaitGroup, workers, total int, call func(i int) error) {
		jobs := make(chan int)
		for range workers {
			wg.Go(func() {
				for i := range jobs {
					if err := call(i); err != nil {
						fail(err)
					}
				}
			})
		}
		wg.Go(func() {
			for i := range total {
				jobs <- i
			}
			close(jobs)
		})
	}

	waitWindowStart(benchWindow, 5*time.Millisecond)
	start := time.Now()
	var lowWG, restWG sync.WaitGroup
	low := priority.With(ctx, priority.Low)
	since := start.Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	pool(&lowWG, lowWorkers, lowTotal, func(i int) error {
		t0 := time.Now()
		// Backfill pages: 100 one-minute candles each, walking back in time.
		_, err := c.OHLCV(low, symbols[i%len(symbols)], market.TF1m, since.Add(time.Duration(i)*100*time.Minute), 100)
		mu.Lock()
		lowWaits = append(lowWaits, time.Since(t0))
		mu.Unlock()
		return err
	})
	mid := priority.With(ctx, priority.Medium)
	pool(&restWG, midWorkers, midTotal, func(i int) error {
		_, err := c.OrderBook(mid, symbols[i%len(symbols)], 5)
		return err
	})
	high := priority.With(ctx, priority.High)
	pool(&restWG, hiWorkers, hiTotal, func(i int) error {
		_, err := c.Trades(high, symbols[i%len(symbols)], time.Time{}, 50)
		return err
	})
	lowsDone := make(chan struct{})
	restWG.Go(func() {
		crit := priority.With(ctx, priority.Critical)
		tick := time.NewTicker(criticalEvery)
		defer tick.Stop()
		rnd := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-lowsDone:
				return
			case <-tick.C:
			}
			mu.Lock()
			critStart = append(critStart, time.Now())
			mu.Unlock()
			if _, err := c.Tickers(crit, []market.Symbol{symbols[rnd.IntN(len(symbols))]}); err != nil {
				fail(err)
			}
		}
	})
	lowWG.Wait()
	lowsEnd := time.Now()
	close(lowsDone)
	restWG.Wait()
	elapsed := time.Since(start)

	r := mixResult{elapsed: elapsed, errors: errs, firstFailure: firstErr, refused: s.limited("binance")}
	for _, route := range s.h.Stats()["binance"].Routes {
		r.banned += int(route.Banned)
	}
	// Weight per window as the replay reported it (the used-weight header
	// is cumulative within the window; its Date says which window), over
	// the full windows that ended before the backfill ran out.
	perWindow := map[int64]int{}
	for _, e := range s.served() {
		r.requests++
		if e.used >= 0 && e.status == http.StatusOK {
			k := e.date.UnixNano() / int64(benchWindow)
			perWindow[k] = max(perWindow[k], e.used)
		}
	}
	first := start.UnixNano() / int64(benchWindow)
	for k := first; time.Unix(0, (k+1)*int64(benchWindow)).Before(lowsEnd); k++ {
		r.windows++
		r.used += perWindow[k]
	}
	if r.windows > 0 {
		r.share = float64(r.used) / float64(r.windows*benchLimit)
	}

	// Critical waits: the limiter's grant (the attempt's start) minus the
	// call's start; the critical calls run one at a time, in order.
	var waits []time.Duration
	i := 0
	for _, a := range c.attempts.list() {
		if a.Endpoint != "ticker24hr" || a.Attempt != 1 {
			continue
		}
		if i < len(critStart) {
			waits = append(waits, a.Time.Sub(critStart[i]))
		}
		i++
	}
	r.criticalN = len(waits)
	r.criticalP50, r.criticalP99, r.criticalMax = quantile(waits, 0.5), quantile(waits, 0.99), quantile(waits, 1)
	r.lowP50 = quantile(lowWaits, 0.5)
	return r
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchmarkDecodeAllTickers: Binance's all-tickers answer for 2000 symbols
// (exchange-replay --scale 2000), parsed by the connector's parser into
// market.Ticker against encoding/json into []map[string]any, in the same
// run.
func BenchmarkDecodeAllTickers(b *testing.B) {
	const symbols = 2000
	s := newServer(b, replay.Options{Scale: symbols})
	body := fetch(b, s.url+"/binance/api/v3/ticker/24hr")
	ms, err := binance.ParseMarkets(fetch(b, s.url+"/binance/api/v3/exchangeInfo"))
	if err != nil || len(ms) != symbols {
		b.Fatalf("markets: %d, %v", len(ms), err)
	}
	ids := make(map[string]market.Symbol, len(ms))
	for _, m := range ms {
		ids[m.ID] = m.Symbol
	}
	resolve := func(id string) (market.Symbol, bool) { s, ok := ids[id]; return s, ok }

	ours := throughput(b, len(body), func() int {
		ts, err := binance.ParseTickers(body, resolve)
		if err != nil {
			b.Fatal(err)
		}
		return len(ts)
	})
	base := throughput(b, len(body), func() int {
		var v []map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
		return len(v)
	})
	fmt.Printf(`
--- all-tickers decode (binance /api/v3/ticker/24hr, %d symbols, %.2f MB) ---
ours (binance.ParseTickers -> []market.Ticker)   %7.1f MB/s
baseline (encoding/json -> []map[string]any)     %7.1f MB/s
ratio ours/baseline                              %7.2f
`, symbols, float64(len(body))/1e6, ours, base, ours/base)
	b.ReportMetric(ours, "ours-MB/s")
	b.ReportMetric(base, "baseline-MB/s")
	b.ReportMetric(ours/base, "ratio")
}

// throughput runs parse for about a second (after a warm-up) and returns
// MB/s; the best of three rounds, to damp noise from other processes.
func throughput(b *testing.B, size int, parse func() int) float64 {
	b.Helper()
	if parse() != 2000 {
		b.Fatal("parse returned the wrong number of rows")
	}
	best := 0.0
	for range 3 {
		n, t0 := 0, time.Now()
		for time.Since(t0) < 300*time.Millisecond {
			parse()
			n++
		}
		best = max(best, float64(n*size)/1e6/time.Since(t0).Seconds())
	}
	return best
}

func fetch(b *testing.B, url string) []byte {
	b.Helper()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}
