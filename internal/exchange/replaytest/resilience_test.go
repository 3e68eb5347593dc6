package replaytest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/replay"
)

// roomy lifts the client-side budget of exchanges whose real limit paces
// requests to about one a second (Kraken), so that tests about other
// things stay quick. Binance keeps its spec: its used-weight header feeds
// the limiter in the spec's one-minute window.
func roomy(id string) clientOpts {
	if id == "binance" {
		return clientOpts{}
	}
	return clientOpts{budget: exchange.RateLimit{Limit: 100, Window: time.Second, Burst: 100}}
}

// TestRetryServerErrors: a 500 then a 503 are retried, and the third
// attempt's data comes back, on every exchange.
func TestRetryServerErrors(t *testing.T) {
	s := newServer(t, replay.Options{})
	for _, id := range registry.IDs() {
		t.Run(id, func(t *testing.T) {
			s.h.ClearFaults()
			require.NoError(t, s.h.AddFaults(
				replay.Fault{Exchange: id, Effect: "status", Status: http.StatusInternalServerError, Count: 1},
				replay.Fault{Exchange: id, Effect: "status", Status: http.StatusServiceUnavailable, Count: 1},
			))
			c := newClient(t, s, id, roomy(id))
			cs, err := c.OHLCV(testCtx(t), btcUSDT, market.TF1m, time.Time{}, 5)
			require.NoError(t, err)
			require.Len(t, cs, 5)

			got := c.attempts.list()
			require.GreaterOrEqual(t, len(got), 3)
			want := []struct {
				status   int
				outcome  httpclient.Outcome
				category httpclient.Category
			}{
				{500, httpclient.OutcomeRetry, httpclient.CategoryServer},
				{503, httpclient.OutcomeRetry, httpclient.CategoryServer},
				{200, httpclient.OutcomeOK, ""},
			}
			for i, w := range want {
				a := got[i]
				require.Equal(t, i+1, a.Attempt, "attempt %d", i)
				require.Equal(t, got[0].Endpoint, a.Endpoint, "attempt %d is a retry of the same request", i)
				require.Equal(t, w.status, a.HTTPStatus, "attempt %d", i)
				require.Equal(t, w.outcome, a.Outcome, "attempt %d", i)
				require.Equal(t, w.category, a.ErrorCategory, "attempt %d", i)
			}
			require.Equal(t, httpclient.StateClosed, c.http.State(), "retried failures that end well leave the circuit closed")
		})
	}
}

// TestRetryAfterFreezesExchange: a 429 with Retry-After freezes the whole
// exchange: the failed request retries only after it, and a second request
// issued meanwhile on another endpoint waits for it too. The client's clock
// is fake, so the waits are checked without sleeping.
func TestRetryAfterFreezesExchange(t *testing.T) {
	s := newServer(t, replay.Options{})
	require.NoError(t, s.h.AddFaults(replay.Fault{Exchange: "binance", Route: "/api/v3/klines", Effect: "429", RetryAfter: 3, Count: 1}))
	clock := clockwork.NewFakeClock()
	c := newClient(t, s, "binance", clientOpts{clock: clock})
	ctx := testCtx(t)
	t0 := clock.Now()

	var wg sync.WaitGroup
	var candlesErr, tickersErr error
	wg.Go(func() { _, candlesErr = c.OHLCV(ctx, btcUSDT, market.TF1m, time.Time{}, 5) })
	// The 429 has frozen the limiter and the request sleeps until the end.
	require.Eventually(t, func() bool { return c.limiter.FrozenUntil().Equal(t0.Add(3 * time.Second)) }, 5*time.Second, time.Millisecond)
	require.NoError(t, clock.BlockUntilContext(ctx, 1))

	wg.Go(func() { _, tickersErr = c.Tickers(ctx, []market.Symbol{ethUSDT}) })
	require.Eventually(t, func() bool { return c.limiter.Waiting() == 1 }, 5*time.Second, time.Millisecond, "the ticker request must wait for the freeze")
	require.NoError(t, clock.BlockUntilContext(ctx, 2)) // the retry's sleep and the limiter's wake-up
	require.Equal(t, 0, s.requests("binance", "/api/v3/ticker/24hr"), "nothing may reach a frozen exchange")
	require.Equal(t, 1, s.requests("binance", "/api/v3/klines"))

	clock.Advance(3 * time.Second)
	wg.Wait()
	require.NoError(t, candlesErr)
	require.NoError(t, tickersErr)
	require.Equal(t, 2, s.requests("binance", "/api/v3/klines"))
	require.Equal(t, 1, s.requests("binance", "/api/v3/ticker/24hr"))

	byEndpoint := map[string][]httpclient.Attempt{}
	for _, a := range c.attempts.list() {
		byEndpoint[a.Endpoint] = append(byEndpoint[a.Endpoint], a)
	}
	k := byEndpoint["klines"]
	require.Len(t, k, 2)
	require.Equal(t, http.StatusTooManyRequests, k[0].HTTPStatus)
	require.Equal(t, httpclient.CategoryRateLimited, k[0].ErrorCategory)
	require.Equal(t, httpclient.OutcomeRetry, k[0].Outcome)
	require.False(t, k[1].Time.Before(t0.Add(3*time.Second)), "retried at %s, before Retry-After", k[1].Time.Sub(t0))
	tk := byEndpoint["ticker24hr"]
	require.Len(t, tk, 1)
	require.False(t, tk[0].Time.Before(t0.Add(3*time.Second)), "second request sent at %s, during the freeze", tk[0].Time.Sub(t0))
	require.Equal(t, httpclient.StateClosed, c.http.State(), "rate limits do not count against the breaker")
}

// TestBanFreezesExchange: a 418 fails the request at once (no retry),
// freezes the exchange for the ban time, and every request meanwhile fails
// without reaching the exchange; afterwards requests flow again.
func TestBanFreezesExchange(t *testing.T) {
	s := newServer(t, replay.Options{})
	require.NoError(t, s.h.AddFaults(replay.Fault{Exchange: "binance", Effect: "418", Count: 1}))
	clock := clockwork.NewFakeClock()
	c := newClient(t, s, "binance", clientOpts{clock: clock, banFreeze: 2 * time.Minute})
	ctx := testCtx(t)

	_, err := c.OHLCV(ctx, btcUSDT, market.TF1m, time.Time{}, 5)
	require.ErrorIs(t, err, httpclient.ErrBanned)
	require.True(t, c.limiter.FrozenUntil().Equal(clock.Now().Add(2*time.Minute)), "frozen until %s", c.limiter.FrozenUntil())
	require.Equal(t, 1, s.requests("binance", "/api/v3/klines"), "a ban is not retried")

	_, err = c.Tickers(ctx, []market.Symbol{ethUSDT})
	require.ErrorIs(t, err, httpclient.ErrFrozen, "a ban longer than the longest wait fails fast")
	require.Equal(t, 0, s.requests("binance", "/api/v3/ticker/24hr"))

	clock.Advance(2 * time.Minute)
	ts, err := c.Tickers(ctx, []market.Symbol{ethUSDT})
	require.NoError(t, err)
	require.Len(t, ts, 1)
}

// TestCircuitBreaker: repeated failed requests (hangs that time out, or
// 5xx), each after its own retries, open the circuit; an open circuit
// refuses without a request; after the open timeout one probe goes through
// (half-open) and its success closes the circuit.
func TestCircuitBreaker(t *testing.T) {
	tests := []struct {
		name     string
		fault    replay.Fault
		category httpclient.Category
	}{
		{"hang", replay.Fault{Exchange: "okx", Effect: "hang"}, httpclient.CategoryTimeout},
		{"503", replay.Fault{Exchange: "okx", Effect: "503"}, httpclient.CategoryServer},
	}
	const route = "/api/v5/market/candles"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, replay.Options{})
			require.NoError(t, s.h.AddFaults(tt.fault))
			o := roomy("okx")
			o.timeout = 50 * time.Millisecond
			o.retry = httpclient.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, Jitter: -1}
			o.breaker = httpclient.BreakerSettings{FailureThreshold: 3, OpenTimeout: 200 * time.Millisecond}
			c := newClient(t, s, "okx", o)
			ctx := testCtx(t)
			get := func() error { _, err := c.OHLCV(ctx, btcUSDT, market.TF1m, time.Time{}, 5); return err }

			for i := range 3 {
				require.Equal(t, httpclient.StateClosed, c.http.State(), "before failure %d", i+1)
				err := get()
				require.Error(t, err)
				require.NotErrorIs(t, err, httpclient.ErrCircuitOpen)
			}
			require.Equal(t, httpclient.StateOpen, c.http.State())
			require.Equal(t, 6, s.requests("okx", route), "three requests of two attempts each")
			for _, a := range c.attempts.list() {
				require.Equal(t, tt.category, a.ErrorCategory)
			}

			require.ErrorIs(t, get(), httpclient.ErrCircuitOpen)
			require.Equal(t, 6, s.requests("okx", route), "an open circuit sends nothing")

			s.h.ClearFaults()
			require.Eventually(t, func() bool { return c.http.State() == httpclient.StateHalfOpen }, 5*time.Second, 5*time.Millisecond)
			require.NoError(t, get(), "the probe")
			require.Equal(t, httpclient.StateClosed, c.http.State())
			require.NoError(t, get())
		})
	}
}

// waitWindowStart sleeps until just after the start of the next window
// (windows are aligned to the Unix epoch on both sides), so that a test's
// burst falls inside one window.
func waitWindowStart(window, after time.Duration) {
	now := time.Now()
	next := now.Truncate(window).Add(window)
	time.Sleep(next.Sub(now) + after)
}

// TestPriorityOrder: with the replay enforcing a small budget, low-priority
// requests that found it spent wait in the limiter; a critical request
// queued after them is sent first when the window turns, and none is
// refused. The budget is one klines request (weight 2) per window, so the
// order in which the replay receives them is the order of the grants. The
// replay, the client and the limiter share a fake clock that the test
// turns one window at a time, once the previous grant was answered: no
// grant depends on how fast the machine is.
func TestPriorityOrder(t *testing.T) {
	const window = 250 * time.Millisecond
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, int(10*time.Millisecond), time.UTC))
	s := newServer(t, replay.Options{
		RateLimits: map[string]bool{"binance": true},
		Budgets:    map[string]replay.Budget{"binance": {Limit: 2, Window: window}},
		Now:        clock.Now,
	})
	c := newClient(t, s, "binance", clientOpts{
		budget:    exchange.RateLimit{Limit: 2, Window: window, Burst: 2},
		agingStep: -1, // no aging: the order is by priority alone
		clock:     clock,
	})
	ctx := testCtx(t)
	answered := func() int {
		n := 0
		for _, e := range s.served() {
			if e.done {
				n++
			}
		}
		return n
	}

	const lows = 5
	var wg sync.WaitGroup
	errs := make(chan error, lows+1)
	low := priority.With(ctx, priority.Low)
	for range lows {
		wg.Go(func() {
			_, err := c.OHLCV(low, ethUSDT, market.TF1m, time.Time{}, 1)
			errs <- err
		})
	}
	// One low request spent the window; the others wait for the next.
	require.Eventually(t, func() bool { return c.limiter.Waiting() == lows-1 && answered() == 1 }, 10*time.Second, time.Millisecond)
	wg.Go(func() {
		_, err := c.OHLCV(priority.With(ctx, priority.Critical), btcUSDT, market.TF1m, time.Time{}, 1)
		errs <- err
	})
	require.Eventually(t, func() bool { return c.limiter.Waiting() == lows }, 10*time.Second, time.Millisecond)
	// Turn the clock until the limiter grants the next request, then hold
	// it until the replay has answered, so that each request reaches the
	// replay in the window it was granted in.
	for n := 2; n <= lows+1; n++ {
		require.Eventually(t, func() bool {
			if c.limiter.Waiting() > lows+1-n {
				clock.Advance(window / 10)
			}
			return answered() == n
		}, 10*time.Second, time.Millisecond, "request %d granted and answered", n)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	var order []string
	for _, e := range s.served() {
		switch {
		case strings.Contains(e.path, "symbol=BTCUSDT"):
			order = append(order, "critical")
		case strings.Contains(e.path, "symbol=ETHUSDT"):
			order = append(order, "low")
		}
	}
	want := []string{"low", "critical"}
	for range lows - 1 {
		want = append(want, "low")
	}
	require.Equal(t, want, order, "the critical request overtakes every low one still waiting")
	require.Equal(t, 0, s.limited("binance"), "the limiter kept within the replay's budget")
}

// TestUsedWeightHeader: another process on the same IP has spent most of
// Binance's window; X-MBX-USED-WEIGHT-1M tells the limiter, so a burst
// stays within what is left and no request is refused. Without the header
// the same burst overruns the budget (the check that the test can fail).
func TestUsedWeightHeader(t *testing.T) {
	const (
		window = time.Second
		limit  = 100
		spent  = 60 // by the other process, three exchangeInfo of weight 20
	)
	for _, header := range []bool{true, false} {
		name := map[bool]string{true: "with header", false: "without header"}[header]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, replay.Options{
				RateLimits: map[string]bool{"binance": true},
				Budgets:    map[string]replay.Budget{"binance": {Limit: limit, Window: window}},
			})
			c := newClient(t, s, "binance", clientOpts{
				budget:       exchange.RateLimit{Limit: limit, Window: window, Burst: 20},
				noUsedHeader: !header,
			})
			ctx := testCtx(t)
			waitWindowStart(window, 20*time.Millisecond)
			for range spent / 20 {
				resp, err := http.Get(s.url + "/binance/api/v3/exchangeInfo")
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}

			// Thirty klines of weight 2: 60 units against the 40 left.
			var wg sync.WaitGroup
			errs := make(chan error, 30)
			for range 30 {
				wg.Go(func() {
					_, err := c.OHLCV(ctx, ethUSDT, market.TF1m, time.Time{}, 1)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err, "every request succeeds, if need be after a retry")
			}
			refused := 0
			for _, a := range c.attempts.list() {
				if a.HTTPStatus == http.StatusTooManyRequests {
					refused++
				}
			}
			require.Equal(t, s.limited("binance"), refused)
			if header {
				require.Zero(t, refused, "the header kept the burst within the budget")
			} else {
				require.Positive(t, refused, "without the header the limiter cannot know the budget is short")
			}
		})
	}
}

// TestDecodeErrors: a truncated or malformed 200 body becomes an
// *exchange.DecodeError holding the whole payload as served, for every
// exchange and for lists and candles alike.
//
// The HTTP layer checks that the body is JSON, so the attempt is recorded
// with status 200, outcome error and category decode (what
// ops.request_metrics shows for it).
func TestDecodeErrors(t *testing.T) {
	s := newServer(t, replay.Options{})
	calls := []struct {
		name string
		call func(c *client) error
	}{
		{"markets", func(c *client) error { _, err := c.Markets(testCtx(t)); return err }},
		{"ohlcv", func(c *client) error {
			_, err := c.OHLCV(testCtx(t), btcUSDT, market.TF1m, time.Time{}, 5)
			return err
		}},
	}
	for _, id := range registry.IDs() {
		for _, effect := range []string{"truncate", "malformed"} {
			for _, k := range calls {
				t.Run(id+"/"+effect+"/"+k.name, func(t *testing.T) {
					c := newClient(t, s, id, roomy(id))
					// Load the markets first where a connector needs them,
					// so the fault hits the call under test.
					if k.name != "markets" {
						_, err := c.Markets(testCtx(t))
						require.NoError(t, err)
					}
					s.h.ClearFaults()
					require.NoError(t, s.h.AddFaults(replay.Fault{Exchange: id, Effect: effect, Count: 1}))
					before := len(s.served())

					err := k.call(c)
					var de *exchange.DecodeError
					require.ErrorAs(t, err, &de)
					require.Equal(t, id, de.Exchange)
					require.NotEmpty(t, de.Endpoint)
					require.False(t, json.Valid(de.Payload), "payload %.80q", de.Payload)
					var log []served
					require.Eventually(t, func() bool { log = s.served(); return len(log) > before && log[before].done }, 5*time.Second, time.Millisecond)
					require.Len(t, log, before+1, "a broken body is not retried")
					require.Len(t, de.Payload, log[before].bytes, "the payload is kept whole")
					if effect == "truncate" {
						require.NotErrorIs(t, err, exchange.ErrBodyError)
					}

					got := c.attempts.list()
					last := got[len(got)-1]
					require.Equal(t, http.StatusOK, last.HTTPStatus)
					require.Equal(t, httpclient.OutcomeError, last.Outcome)
					require.Equal(t, httpclient.CategoryDecode, last.ErrorCategory)
					require.False(t, errors.Is(err, httpclient.ErrCircuitOpen))
				})
			}
		}
	}
}

// TestLatency: added latency below the timeout is waited out and shows in
// the recorded latency; latency beyond the timeout is a timeout, retried,
// and recorded as such.
func TestLatency(t *testing.T) {
	s := newServer(t, replay.Options{})
	require.NoError(t, s.h.AddFaults(replay.Fault{Exchange: "binance", Effect: "latency", Latency: "150ms"}))
	o := roomy("binance")
	o.timeout = time.Second
	o.retry = httpclient.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, Jitter: -1}
	c := newClient(t, s, "binance", o)
	_, err := c.OHLCV(testCtx(t), btcUSDT, market.TF1m, time.Time{}, 5)
	require.NoError(t, err, "slow but within the timeout")
	got := c.attempts.list()
	require.Len(t, got, 1)
	require.Equal(t, httpclient.OutcomeOK, got[0].Outcome)
	require.GreaterOrEqual(t, got[0].Latency, 150*time.Millisecond, "the latency recorded is the latency seen")

	o.timeout = 50 * time.Millisecond
	slow := newClient(t, s, "binance", o)
	_, err = slow.OHLCV(testCtx(t), btcUSDT, market.TF1m, time.Time{}, 5)
	require.Error(t, err)
	got = slow.attempts.list()
	require.Len(t, got, 2, "a timeout is retried")
	for _, a := range got {
		require.Equal(t, httpclient.CategoryTimeout, a.ErrorCategory)
	}
	require.Equal(t, httpclient.OutcomeRetry, got[0].Outcome)
	require.Equal(t, httpclient.OutcomeError, got[1].Outcome)
}
