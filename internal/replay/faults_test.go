package replay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		in      string
		want    Fault
		wantErr bool
	}{
		{in: "binance:/api/v3/klines=429", want: Fault{Exchange: "binance", Route: "/api/v3/klines", Effect: "status", Status: 429}},
		{in: "okx=503,count=3", want: Fault{Exchange: "okx", Route: "*", Effect: "status", Status: 503, Count: 3}},
		{in: "kraken:/0/public/OHLC=latency:2s,p=0.5", want: Fault{Exchange: "kraken", Route: "/0/public/OHLC", Effect: "latency", Latency: "2s", Probability: 0.5, latency: 2 * time.Second}},
		{in: "*:*=hang,count=1", want: Fault{Exchange: "*", Route: "*", Effect: "hang", Count: 1}},
		{in: "bybit=429,retry-after=9", want: Fault{Exchange: "bybit", Route: "*", Effect: "status", Status: 429, RetryAfter: 9}},
		{in: "binance", wantErr: true},
		{in: "nowhere=500", wantErr: true},
		{in: "binance=200", wantErr: true},
		{in: "binance=explode", wantErr: true},
		{in: "binance=latency:soon", wantErr: true},
		{in: "binance=500,p=2", wantErr: true},
		{in: "binance=500,colour=red", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFault(tt.in)
		if tt.wantErr {
			require.ErrorIs(t, err, ErrBadFault, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

func TestFaultEffects(t *testing.T) {
	const klines = "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5"
	tests := []struct {
		name  string
		fault string
		check func(t *testing.T, r response)
	}{
		{"429 with Retry-After", "binance:/api/v3/klines=429,retry-after=7", func(t *testing.T, r response) {
			require.Equal(t, http.StatusTooManyRequests, r.status)
			require.Equal(t, "7", r.header.Get("Retry-After"))
			require.Contains(t, string(r.body), `"code":-1003`)
		}},
		{"418", "binance=418", func(t *testing.T, r response) { require.Equal(t, http.StatusTeapot, r.status) }},
		{"500", "binance:/api/v3/klines=500", func(t *testing.T, r response) { require.Equal(t, http.StatusInternalServerError, r.status) }},
		{"503 by request path", "binance:/api/v3/klines=503", func(t *testing.T, r response) { require.Equal(t, http.StatusServiceUnavailable, r.status) }},
		{"truncated JSON", "binance=truncate", func(t *testing.T, r response) {
			require.Equal(t, http.StatusOK, r.status)
			require.False(t, json.Valid(r.body))
			require.True(t, strings.HasPrefix(string(r.body), "[["))
		}},
		{"malformed JSON", "*:*=malformed", func(t *testing.T, r response) {
			require.Equal(t, http.StatusOK, r.status)
			require.False(t, json.Valid(r.body))
		}},
		{"other exchange unaffected", "okx=500", func(t *testing.T, r response) {
			require.Equal(t, http.StatusOK, r.status)
			require.True(t, json.Valid(r.body))
		}},
		{"other route unaffected", "binance:/api/v3/depth=500", func(t *testing.T, r response) { require.Equal(t, http.StatusOK, r.status) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fault, err := ParseFault(tt.fault)
			require.NoError(t, err)
			f := newFixture(t, Options{Faults: []Fault{fault}})
			r := f.get(t, klines)
			require.Equal(t, "1", r.header.Get(SyntheticHeader))
			tt.check(t, r)
		})
	}
}

func TestFaultCountAndProbability(t *testing.T) {
	f := newFixture(t, Options{Faults: []Fault{{Exchange: "kraken", Effect: "503", Count: 3}}})
	var statuses []int
	for range 5 {
		statuses = append(statuses, f.get(t, "/kraken/0/public/Ticker?pair=XBTUSDT").status)
	}
	require.Equal(t, []int{503, 503, 503, 200, 200}, statuses)
	require.Empty(t, f.h.faults.list(), "a used-up fault is removed")

	f = newFixture(t, Options{Seed: 42, Faults: []Fault{{Exchange: "okx", Effect: "500", Probability: 0.5}}})
	failed := 0
	for range 200 {
		if f.get(t, "/okx/api/v5/market/ticker?instId=BTC-USDT").status == http.StatusInternalServerError {
			failed++
		}
	}
	require.Greater(t, failed, 50)
	require.Less(t, failed, 150)
}

func TestFaultLatency(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	f := newFixture(t, Options{
		Faults: []Fault{{Exchange: "bybit", Effect: "latency", Latency: "250ms"}, {Exchange: "*", Effect: "latency", Latency: "1s"}},
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			slept = append(slept, d)
			return nil
		},
	})
	r := f.get(t, "/bybit/v5/market/tickers?category=spot")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, []time.Duration{1250 * time.Millisecond}, slept, "latencies add up")
}

func TestFaultHang(t *testing.T) {
	f := newFixture(t, Options{Faults: []Fault{{Exchange: "htx", Effect: "hang"}}})
	// A client that gives up ends the hang without an answer.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/htx/market/tickers", nil)
	f.h.ServeHTTP(rec, req)
	require.Zero(t, rec.Body.Len())
	require.Empty(t, rec.Header().Get("Content-Type"))
	require.Equal(t, int64(1), f.h.Stats()["htx"].Routes["/market/tickers"].Faults)

	// Through a real client: it times out; Close releases the handler.
	cctx, ccancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, f.srv.URL+"/htx/market/tickers", nil)
		resp, err := f.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	ccancel()
	require.True(t, errors.Is(<-done, context.Canceled))
}

func TestRateLimits(t *testing.T) {
	on := map[string]bool{}
	for _, ex := range Exchanges {
		on[ex] = true
	}
	t.Run("binance weight", func(t *testing.T) {
		f := newFixture(t, Options{RateLimits: on})
		// exchangeInfo weighs 20: 299 of them and a kline (2) leave 18.
		for i := 1; i <= 299; i++ {
			r := f.get(t, "/binance/api/v3/exchangeInfo")
			require.Equal(t, http.StatusOK, r.status, "request %d", i)
			require.Equal(t, itoa(int64(i*20)), r.header.Get("X-MBX-USED-WEIGHT-1M"))
		}
		r := f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "5982", r.header.Get("X-MBX-USED-WEIGHT-1M"))
		r = f.get(t, "/binance/api/v3/exchangeInfo")
		require.Equal(t, http.StatusTooManyRequests, r.status)
		require.Equal(t, "37", r.header.Get("Retry-After"), "until the minute ends (10:17:23.456)")
		require.Contains(t, string(r.body), `"code":-1003`)
		require.Equal(t, int64(1), f.h.Stats()["binance"].Routes["/api/v3/exchangeInfo"].RateLimited)
		f.clock.Add(37 * time.Second)
		r = f.get(t, "/binance/api/v3/depth?symbol=BTCUSDT&limit=5000")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "250", r.header.Get("X-MBX-USED-WEIGHT-1M"), "a new window; depth 5000 weighs 250")
	})
	t.Run("kraken error in a 200", func(t *testing.T) {
		f := newFixture(t, Options{RateLimits: on})
		require.Equal(t, `{"error":[]`, string(f.get(t, "/kraken/0/public/Ticker?pair=XBTUSDT").body)[:11])
		r := f.get(t, "/kraken/0/public/Ticker?pair=XBTUSDT")
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, `{"error":["EAPI:Rate limit exceeded"]}`, string(r.body))
	})
	t.Run("kucoin pool", func(t *testing.T) {
		f := newFixture(t, Options{RateLimits: on})
		for i := 0; i < 2000/15; i++ {
			require.Equal(t, http.StatusOK, f.get(t, "/kucoin/api/v1/market/stats?symbol=BTC-USDT").status)
		}
		r := f.get(t, "/kucoin/api/v1/market/stats?symbol=BTC-USDT")
		require.Equal(t, http.StatusTooManyRequests, r.status)
		require.Contains(t, string(r.body), `"429000"`)
		require.Equal(t, "5", r.header.Get("gw-ratelimit-remaining"))
	})
	t.Run("okx per endpoint", func(t *testing.T) {
		f := newFixture(t, Options{RateLimits: on})
		for range 20 {
			require.Equal(t, http.StatusOK, f.get(t, "/okx/api/v5/market/ticker?instId=BTC-USDT").status)
		}
		require.Equal(t, http.StatusTooManyRequests, f.get(t, "/okx/api/v5/market/ticker?instId=BTC-USDT").status)
		require.Equal(t, http.StatusOK, f.get(t, "/okx/api/v5/market/books?instId=BTC-USDT").status, "another endpoint's budget")
	})
	t.Run("coinbase and bybit", func(t *testing.T) {
		f := newFixture(t, Options{RateLimits: on})
		for range 15 { // a bucket of 15, refilled at 10 per second
			require.Equal(t, http.StatusOK, f.get(t, "/coinbaseexchange/products").status)
		}
		require.Equal(t, http.StatusTooManyRequests, f.get(t, "/coinbaseexchange/products").status)
		f.clock.Add(100 * time.Millisecond)
		require.Equal(t, http.StatusOK, f.get(t, "/coinbaseexchange/products").status)
		require.Equal(t, http.StatusTooManyRequests, f.get(t, "/coinbaseexchange/products").status)
		for range 600 {
			f.get(t, "/bybit/v5/market/tickers?category=spot")
		}
		r := f.get(t, "/bybit/v5/market/tickers?category=spot")
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, "access too frequent", string(r.body))
	})
	t.Run("off by default in tests, switchable by admin", func(t *testing.T) {
		f := newFixture(t, Options{})
		for range 3 {
			require.Equal(t, `{"error":[]`, string(f.get(t, "/kraken/0/public/Ticker?pair=XBTUSDT").body)[:11])
		}
		r := f.do(t, http.MethodPost, "/_admin/ratelimits", []byte(`{"exchange":"kraken","enabled":true}`))
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, string(f.get(t, "/kraken/0/public/Ticker?pair=XBTUSDT").body), "EAPI:Rate limit exceeded")
		require.Equal(t, http.StatusBadRequest, f.do(t, http.MethodPost, "/_admin/ratelimits", []byte(`{"exchange":"nowhere","enabled":true}`)).status)
	})
}

func TestAdmin(t *testing.T) {
	f := newFixture(t, Options{})
	r := f.do(t, http.MethodPost, "/_admin/faults", []byte(`{"exchange":"okx","route":"/api/v5/market/books","effect":"503","count":1}`))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var faults []Fault
	require.NoError(t, json.Unmarshal(f.get(t, "/_admin/faults").body, &faults))
	require.Len(t, faults, 1)
	require.Equal(t, http.StatusServiceUnavailable, f.get(t, "/okx/api/v5/market/books?instId=BTC-USDT").status)
	require.Equal(t, http.StatusOK, f.get(t, "/okx/api/v5/market/books?instId=BTC-USDT").status)

	r = f.do(t, http.MethodPost, "/_admin/faults", []byte(`[{"exchange":"okx","effect":"hang"},{"exchange":"okx","effect":"bogus"}]`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "bogus")
	require.Equal(t, "[]\n", string(f.get(t, "/_admin/faults").body), "a bad list adds nothing")

	require.Equal(t, http.StatusOK, f.do(t, http.MethodPost, "/_admin/faults", []byte(`[{"exchange":"*","effect":"500"}]`)).status)
	require.Equal(t, http.StatusOK, f.do(t, http.MethodDelete, "/_admin/faults", nil).status)
	require.Equal(t, http.StatusOK, f.get(t, "/kucoin/api/v1/market/allTickers").status)

	require.Equal(t, http.StatusOK, f.do(t, http.MethodDelete, "/_admin/stats", nil).status)
	f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=17")
	f.get(t, "/binance/api/v3/klines?symbol=ETHUSDT&interval=1h&limit=3")
	f.get(t, "/binance/api/v3/klines?symbol=NOPE&interval=1h")
	f.get(t, "/binance/api/v3/aggTrades?symbol=BTCUSDT&limit=11")
	var stats map[string]ExchangeStats
	require.NoError(t, json.Unmarshal(f.get(t, "/_admin/stats").body, &stats))
	kl := stats["binance"].Routes["/api/v3/klines"]
	require.Equal(t, RouteStats{Requests: 3, OK: 2, Errors: 1, Rows: 20}, *kl)
	require.Equal(t, int64(20), stats["binance"].Rows["ohlcv"])
	require.Equal(t, int64(11), stats["binance"].Rows["trades"])

	var routes map[string][]string
	require.NoError(t, json.Unmarshal(f.get(t, "/_admin/routes").body, &routes))
	require.Len(t, routes, len(Exchanges))
	require.Contains(t, routes["coinbaseexchange"], "/products/{id}/candles")
}

// TestStrictBinance: the strict stand-in counts weight per calendar minute
// of its own clock (sent as Date), answers 429 with the seconds left, and
// bans a client that comes back before them with 418 for two minutes.
func TestStrictBinance(t *testing.T) {
	const kline = "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1" // weight 2
	for _, strict := range []bool{true, false} {
		t.Run(map[bool]string{true: "strict", false: "lenient"}[strict], func(t *testing.T) {
			f := newFixture(t, Options{RateLimits: map[string]bool{"binance": true}, Strict: strict,
				Budgets: map[string]Budget{"binance": {Limit: 4, Window: time.Minute}}})
			for range 2 {
				r := f.get(t, kline)
				require.Equal(t, http.StatusOK, r.status)
				require.Equal(t, testNow.Format(http.TimeFormat), r.header.Get("Date"), "the server's clock")
			}
			r := f.get(t, kline)
			require.Equal(t, http.StatusTooManyRequests, r.status)
			require.Equal(t, "37", r.header.Get("Retry-After"))

			f.clock.Add(36 * time.Second) // too early
			r = f.get(t, kline)
			if !strict {
				require.Equal(t, http.StatusTooManyRequests, r.status, "only strict mode bans")
				return
			}
			require.Equal(t, http.StatusTeapot, r.status)
			require.Equal(t, "120", r.header.Get("Retry-After"))
			require.Contains(t, string(r.body), "IP banned until")
			f.clock.Add(119 * time.Second) // a new minute, but still banned
			require.Equal(t, http.StatusTeapot, f.get(t, kline).status)
			require.Equal(t, int64(2), f.h.Stats()["binance"].Routes["/api/v3/klines"].Banned)
			require.Contains(t, string(f.get(t, "/_admin/ratelimits").body), `"banned_until"`)
			f.clock.Add(time.Second)
			r = f.get(t, kline)
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, "2", r.header.Get("X-MBX-USED-WEIGHT-1M"))
		})
	}
}

// TestStrictHonouredRetryAfterIsNotBanned: a client that waits out the
// 429's Retry-After is served.
func TestStrictHonouredRetryAfterIsNotBanned(t *testing.T) {
	const kline = "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"
	f := newFixture(t, Options{RateLimits: map[string]bool{"binance": true}, Strict: true,
		Budgets: map[string]Budget{"binance": {Limit: 2, Window: time.Minute}}})
	require.Equal(t, http.StatusOK, f.get(t, kline).status)
	require.Equal(t, http.StatusTooManyRequests, f.get(t, kline).status)
	f.clock.Add(37 * time.Second)
	require.Equal(t, http.StatusOK, f.get(t, kline).status)
}

// TestRollingWindow: exchanges that do not say their window is aligned
// count a rolling one, the strict reading.
func TestRollingWindow(t *testing.T) {
	const tickers = "/bybit/v5/market/tickers?category=spot"
	f := newFixture(t, Options{RateLimits: map[string]bool{"bybit": true},
		Budgets: map[string]Budget{"bybit": {Limit: 3, Window: 5 * time.Second}}})
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
	f.clock.Add(3 * time.Second)
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
	require.Equal(t, http.StatusForbidden, f.get(t, tickers).status)
	f.clock.Add(2 * time.Second) // the first leaves the window; a fixed window would free all three
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
	require.Equal(t, http.StatusForbidden, f.get(t, tickers).status)
	f.clock.Add(3 * time.Second)
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
	require.Equal(t, http.StatusOK, f.get(t, tickers).status)
}
