package replay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testNow = time.Date(2025, 6, 2, 10, 17, 23, 456_000_000, time.UTC)

type fixture struct {
	h     *Handler
	srv   *httptest.Server
	clock *clock
}

// newFixture serves the repository's fixtures with a fixed clock and, unless
// the options say otherwise, no rate-limit enforcement.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ck := &clock{t: testNow}
	opts.Fixtures = os.DirFS("../../testdata/replay")
	opts.Now = ck.Now
	if opts.RateLimits == nil {
		opts.RateLimits = map[string]bool{}
		for _, ex := range Exchanges {
			opts.RateLimits[ex] = false
		}
	}
	h, err := New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return &fixture{h: h, srv: srv, clock: ck}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) get(t *testing.T, path string) response {
	t.Helper()
	return f.do(t, http.MethodGet, path, nil)
}

func (f *fixture) do(t *testing.T, method, path string, body []byte) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, b}
}

// decode parses JSON with numbers kept as json.Number.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "body: %s", b)
	return v
}

// dig walks maps by key and slices by index.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "want an object at %v, got %T", p, v)
			v, ok = m[k]
			require.True(t, ok, "missing key %q", k)
		case int:
			a, ok := v.([]any)
			require.True(t, ok, "want an array at %v, got %T", p, v)
			require.Greater(t, len(a), k, "array too short at %d", k)
			v = a[k]
		}
	}
	return v
}

func length(t *testing.T, v any) int {
	t.Helper()
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	t.Fatalf("no length for %T", v)
	return 0
}

// asMs reads a time in the given unit as milliseconds.
func asMs(t *testing.T, v any, unit string) int64 {
	t.Helper()
	s := str(v)
	switch unit {
	case "iso":
		tm, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return tm.UnixMilli()
	case "fs":
		f, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		return int64(f * 1000)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "time %q", s)
	switch unit {
	case "s":
		return n * 1000
	case "us":
		return n / 1000
	case "ns":
		return n / 1_000_000
	}
	return n
}

// TestRoutes asks every exchange's every route for ETH/USDT, checks the
// recorded shape (key fields and their JSON types), the substituted symbol,
// and that times were moved to now.
func TestRoutes(t *testing.T) {
	f := newFixture(t, Options{})
	now := testNow.UnixMilli()
	type timeField struct {
		path []any
		unit string
	}
	tests := []struct {
		name   string
		path   string
		rows   []any       // path to the rows; checked non-empty
		nrows  int         // exact row count when > 0
		symbol []any       // path to a field that must equal want
		want   string      // the substituted id
		times  []timeField // must be within a day before now
	}{
		{name: "binance markets", path: "/binance/api/v3/exchangeInfo", rows: []any{"symbols"}, nrows: 7,
			symbol: []any{"symbols", 1, "symbol"}, want: "ETHUSDT", times: []timeField{{[]any{"serverTime"}, "ms"}}},
		{name: "binance ticker", path: "/binance/api/v3/ticker/24hr?symbol=ETHUSDT", symbol: []any{"symbol"}, want: "ETHUSDT",
			times: []timeField{{[]any{"closeTime"}, "ms"}}},
		{name: "binance tickers", path: "/binance/api/v3/ticker/24hr", rows: []any{}, nrows: 7, symbol: []any{1, "symbol"}, want: "ETHUSDT"},
		{name: "binance tickers list", path: `/binance/api/v3/ticker/24hr?symbols=["BTCUSDT","ETHUSDT"]`, rows: []any{}, nrows: 2, symbol: []any{1, "symbol"}, want: "ETHUSDT"},
		{name: "binance depth", path: "/binance/api/v3/depth?symbol=ETHUSDT&limit=50", rows: []any{"bids"}, nrows: 50},
		{name: "binance klines", path: "/binance/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=7", rows: []any{}, nrows: 7,
			times: []timeField{{[]any{6, 0}, "ms"}}},
		{name: "binance trades", path: "/binance/api/v3/trades?symbol=ETHUSDT&limit=9", rows: []any{}, nrows: 9,
			times: []timeField{{[]any{8, "time"}, "ms"}}},
		{name: "binance aggTrades", path: "/binance/api/v3/aggTrades?symbol=ETHUSDT", rows: []any{}, nrows: 500,
			times: []timeField{{[]any{499, "T"}, "ms"}}},
		{name: "kraken markets", path: "/kraken/0/public/AssetPairs", rows: []any{"result"}, nrows: 7, symbol: []any{"result", "XXBTZUSD", "altname"}, want: "XBTUSD"},
		{name: "kraken ticker", path: "/kraken/0/public/Ticker?pair=ETHUSDT", rows: []any{"result", "ETHUSDT", "a"}},
		{name: "kraken tickers", path: "/kraken/0/public/Ticker", rows: []any{"result"}, nrows: 7},
		{name: "kraken depth", path: "/kraken/0/public/Depth?pair=XETHZUSD&count=10", rows: []any{"result", "XETHZUSD", "asks"}, nrows: 10,
			times: []timeField{{[]any{"result", "XETHZUSD", "asks", 0, 2}, "s"}}},
		{name: "kraken ohlc", path: "/kraken/0/public/OHLC?pair=ETHUSDT&interval=5", rows: []any{"result", "ETHUSDT"}, nrows: 720,
			times: []timeField{{[]any{"result", "ETHUSDT", 719, 0}, "s"}, {[]any{"result", "last"}, "s"}}},
		{name: "kraken trades", path: "/kraken/0/public/Trades?pair=ETHUSDT&count=3", rows: []any{"result", "ETHUSDT"}, nrows: 3,
			times: []timeField{{[]any{"result", "ETHUSDT", 2, 2}, "fs"}, {[]any{"result", "last"}, "ns"}}},
		{name: "kucoin markets", path: "/kucoin/api/v2/symbols", rows: []any{"data"}, nrows: 7, symbol: []any{"data", 1, "symbol"}, want: "ETH-USDT"},
		{name: "kucoin ticker", path: "/kucoin/api/v1/market/stats?symbol=ETH-USDT", symbol: []any{"data", "symbol"}, want: "ETH-USDT",
			times: []timeField{{[]any{"data", "time"}, "ms"}}},
		{name: "kucoin all tickers", path: "/kucoin/api/v1/market/allTickers", rows: []any{"data", "ticker"}, nrows: 7,
			symbol: []any{"data", "ticker", 1, "symbol"}, want: "ETH-USDT", times: []timeField{{[]any{"data", "time"}, "ms"}}},
		{name: "kucoin book 20", path: "/kucoin/api/v1/market/orderbook/level2_20?symbol=ETH-USDT", rows: []any{"data", "asks"}, nrows: 20,
			times: []timeField{{[]any{"data", "time"}, "ms"}}},
		{name: "kucoin book 100", path: "/kucoin/api/v1/market/orderbook/level2_100?symbol=ETH-USDT", rows: []any{"data", "bids"}, nrows: 100},
		{name: "kucoin candles", path: "/kucoin/api/v1/market/candles?symbol=ETH-USDT&type=1hour", rows: []any{"data"}, nrows: 1500,
			times: []timeField{{[]any{"data", 0, 0}, "s"}}},
		{name: "kucoin trades", path: "/kucoin/api/v1/market/histories?symbol=ETH-USDT", rows: []any{"data"}, nrows: 100,
			times: []timeField{{[]any{"data", 99, "time"}, "ns"}}},
		{name: "htx markets", path: "/htx/v1/common/symbols", rows: []any{"data"}, nrows: 7, symbol: []any{"data", 1, "symbol"}, want: "ethusdt"},
		{name: "htx ticker", path: "/htx/market/detail/merged?symbol=ethusdt", symbol: []any{"ch"}, want: "market.ethusdt.detail.merged",
			times: []timeField{{[]any{"ts"}, "ms"}}},
		{name: "htx tickers", path: "/htx/market/tickers", rows: []any{"data"}, nrows: 7, symbol: []any{"data", 1, "symbol"}, want: "ethusdt"},
		{name: "htx depth", path: "/htx/market/depth?symbol=ethusdt&type=step0", rows: []any{"tick", "bids"}, nrows: 150,
			times: []timeField{{[]any{"tick", "ts"}, "ms"}}},
		{name: "htx kline", path: "/htx/market/history/kline?symbol=ethusdt&period=1min", rows: []any{"data"}, nrows: 150,
			times: []timeField{{[]any{"data", 0, "id"}, "s"}}},
		{name: "htx candles", path: "/htx/market/history/candles?symbol=ethusdt&period=1min&size=5", rows: []any{"data"}, nrows: 5,
			symbol: []any{"ch"}, want: "market.ethusdt.kline.1min", times: []timeField{{[]any{"data", 0, "id"}, "s"}}},
		{name: "htx candles from", path: "/htx/market/history/candles?symbol=ethusdt&period=1min&size=3&from=" + itoa(testNow.Add(-2*time.Hour).Unix()),
			rows: []any{"data"}, nrows: 3, times: []timeField{{[]any{"data", 2, "id"}, "s"}}},
		{name: "htx trades", path: "/htx/market/history/trade?symbol=ethusdt&size=5", rows: []any{"data"}, nrows: 5,
			times: []timeField{{[]any{"data", 0, "data", 0, "ts"}, "ms"}}},
		{name: "okx markets", path: "/okx/api/v5/public/instruments?instType=SPOT", rows: []any{"data"}, nrows: 7, symbol: []any{"data", 1, "instId"}, want: "ETH-USDT"},
		{name: "okx ticker", path: "/okx/api/v5/market/ticker?instId=ETH-USDT", symbol: []any{"data", 0, "instId"}, want: "ETH-USDT",
			times: []timeField{{[]any{"data", 0, "ts"}, "ms"}}},
		{name: "okx tickers", path: "/okx/api/v5/market/tickers?instType=SPOT", rows: []any{"data"}, nrows: 7},
		{name: "okx books", path: "/okx/api/v5/market/books?instId=ETH-USDT&sz=25", rows: []any{"data", 0, "asks"}, nrows: 25,
			times: []timeField{{[]any{"data", 0, "ts"}, "ms"}}},
		{name: "okx candles", path: "/okx/api/v5/market/candles?instId=ETH-USDT&bar=1H", rows: []any{"data"}, nrows: 100,
			times: []timeField{{[]any{"data", 0, 0}, "ms"}}},
		{name: "okx history candles", path: "/okx/api/v5/market/history-candles?instId=ETH-USDT&bar=1D&limit=300", rows: []any{"data"}, nrows: 100},
		{name: "okx trades", path: "/okx/api/v5/market/trades?instId=ETH-USDT", rows: []any{"data"}, nrows: 100, symbol: []any{"data", 0, "instId"}, want: "ETH-USDT",
			times: []timeField{{[]any{"data", 0, "ts"}, "ms"}}},
		{name: "okx history trades", path: "/okx/api/v5/market/history-trades?instId=ETH-USDT&limit=500", rows: []any{"data"}, nrows: 100},
		{name: "bybit markets", path: "/bybit/v5/market/instruments-info?category=spot", rows: []any{"result", "list"}, nrows: 7,
			symbol: []any{"result", "list", 1, "symbol"}, want: "ETHUSDT"},
		{name: "bybit ticker", path: "/bybit/v5/market/tickers?category=spot&symbol=ETHUSDT", rows: []any{"result", "list"}, nrows: 1,
			symbol: []any{"result", "list", 0, "symbol"}, want: "ETHUSDT", times: []timeField{{[]any{"time"}, "ms"}}},
		{name: "bybit tickers", path: "/bybit/v5/market/tickers?category=spot", rows: []any{"result", "list"}, nrows: 7},
		{name: "bybit orderbook", path: "/bybit/v5/market/orderbook?category=spot&symbol=ETHUSDT&limit=200", rows: []any{"result", "b"}, nrows: 200,
			symbol: []any{"result", "s"}, want: "ETHUSDT", times: []timeField{{[]any{"result", "ts"}, "ms"}}},
		{name: "bybit kline", path: "/bybit/v5/market/kline?category=spot&symbol=ETHUSDT&interval=15", rows: []any{"result", "list"}, nrows: 200,
			symbol: []any{"result", "symbol"}, want: "ETHUSDT", times: []timeField{{[]any{"result", "list", 0, 0}, "ms"}}},
		{name: "bybit trades", path: "/bybit/v5/market/recent-trade?category=spot&symbol=ETHUSDT&limit=100", rows: []any{"result", "list"}, nrows: 60,
			symbol: []any{"result", "list", 0, "symbol"}, want: "ETHUSDT", times: []timeField{{[]any{"result", "list", 0, "time"}, "ms"}}},
		{name: "coinbase products", path: "/coinbaseexchange/products", rows: []any{}, nrows: 7, symbol: []any{1, "id"}, want: "ETH-USDT"},
		{name: "coinbase ticker", path: "/coinbaseexchange/products/ETH-USDT/ticker", times: []timeField{{[]any{"time"}, "iso"}}},
		{name: "coinbase book", path: "/coinbaseexchange/products/ETH-USDT/book?level=2", rows: []any{"bids"}, nrows: 50,
			times: []timeField{{[]any{"time"}, "iso"}}},
		{name: "coinbase candles", path: "/coinbaseexchange/products/ETH-USDT/candles?granularity=60", rows: []any{}, nrows: 300,
			times: []timeField{{[]any{0, 0}, "s"}}},
		{name: "coinbase trades", path: "/coinbaseexchange/products/ETH-USDT/trades?limit=10", rows: []any{}, nrows: 10,
			times: []timeField{{[]any{0, "time"}, "iso"}}},
		{name: "bitstamp markets", path: "/bitstamp/api/v2/markets/", rows: []any{}, nrows: 7, symbol: []any{1, "market_symbol"}, want: "ethusdt"},
		{name: "bitstamp pairs", path: "/bitstamp/api/v2/trading-pairs-info/", rows: []any{}, nrows: 7, symbol: []any{1, "url_symbol"}, want: "ethusdt"},
		{name: "bitstamp ticker", path: "/bitstamp/api/v2/ticker/ethusdt/", times: []timeField{{[]any{"timestamp"}, "s"}}},
		{name: "bitstamp tickers", path: "/bitstamp/api/v2/ticker/", rows: []any{}, nrows: 7, symbol: []any{1, "pair"}, want: "ETH/USDT"},
		{name: "bitstamp book", path: "/bitstamp/api/v2/order_book/ethusdt/", rows: []any{"asks"}, nrows: 100,
			times: []timeField{{[]any{"timestamp"}, "s"}, {[]any{"microtimestamp"}, "us"}}},
		{name: "bitstamp ohlc", path: "/bitstamp/api/v2/ohlc/ethusdt/?step=60&limit=5", rows: []any{"data", "ohlc"}, nrows: 5,
			symbol: []any{"data", "pair"}, want: "ETH/USDT", times: []timeField{{[]any{"data", "ohlc", 4, "timestamp"}, "s"}}},
		{name: "bitstamp transactions", path: "/bitstamp/api/v2/transactions/ethusdt/?time=minute", rows: []any{},
			times: []timeField{{[]any{0, "date"}, "s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.get(t, tt.path)
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			require.Equal(t, "1", r.header.Get(SyntheticHeader))
			v := decode(t, r.body)
			if tt.rows != nil {
				n := length(t, dig(t, v, tt.rows...))
				require.Positive(t, n)
				if tt.nrows > 0 {
					require.Equal(t, tt.nrows, n)
				}
			}
			if tt.symbol != nil {
				require.Equal(t, tt.want, dig(t, v, tt.symbol...))
			}
			for _, tf := range tt.times {
				ms := asMs(t, dig(t, v, tf.path...), tf.unit)
				require.LessOrEqual(t, ms, now, "time %v in the future", tf.path)
				require.Greater(t, ms, now-day, "time %v not restamped", tf.path)
			}
		})
	}
}

// TestRecordedTypes checks that served bodies keep the recording's JSON
// types and key order.
func TestRecordedTypes(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		path string
		want string // a fragment of the served body
	}{
		{"/binance/api/v3/ticker/24hr?symbol=BTCUSDT", `{"symbol":"BTCUSDT","priceChange":"1188.75000000"`},
		{"/binance/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1", `"0"]]`},
		// Prices move to the symbol's level now; their types stay.
		{"/htx/market/detail/merged?symbol=btcusdt", `"vol":"1.6575393849546936E8","count":"104640","bid":[6`},
		{"/kraken/0/public/Ticker?pair=XBTUSDT", `"t":[6405,21103]`},
		{"/bybit/v5/market/orderbook?category=spot&symbol=BTCUSDT", `{"retCode":"0","retMsg":"OK","result":{"s":"BTCUSDT","a":[["6`},
	}
	for _, tt := range tests {
		r := f.get(t, tt.path)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, string(r.body), tt.want, tt.path)
	}
	// Candle rows keep the recorded types: numbers stay numbers.
	k := decode(t, f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1").body)
	row := dig(t, k, 0).([]any)
	require.IsType(t, json.Number(""), row[0])
	require.IsType(t, "", row[1])
	require.IsType(t, json.Number(""), row[8])
	cb := decode(t, f.get(t, "/coinbaseexchange/products/BTC-USD/candles?granularity=60").body)
	for _, v := range dig(t, cb, 0).([]any) {
		require.IsType(t, json.Number(""), v)
	}
}

func TestKeepTimes(t *testing.T) {
	f := newFixture(t, Options{KeepTimes: true})
	v := decode(t, f.get(t, "/binance/api/v3/ticker/24hr?symbol=BTCUSDT").body)
	require.Equal(t, "1710328245391", dig(t, v, "closeTime"))
	v = decode(t, f.get(t, "/coinbaseexchange/products/BTC-USDT/ticker").body)
	require.Equal(t, "2024-03-13T11:10:41.270099Z", dig(t, v, "time"))
	// The data clock stops at the recording: no candle after it.
	v = decode(t, f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1").body)
	require.LessOrEqual(t, asMs(t, dig(t, v, 0, 0), "ms"), int64(1710328245391))
}

func TestUnknownSymbol(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/binance/api/v3/depth?symbol=NOPEUSDT", 400, `"code":-1121`},
		{"/kraken/0/public/Ticker?pair=NOPEUSD", 200, `EQuery:Unknown asset pair`},
		{"/kucoin/api/v1/market/stats?symbol=NOPE-USDT", 400, `"code":"400100"`},
		{"/htx/market/detail/merged?symbol=nopeusdt", 200, `"err-msg":"invalid symbol"`},
		{"/okx/api/v5/market/ticker?instId=NOPE-USDT", 400, `"code":"51001"`},
		{"/bybit/v5/market/tickers?category=spot&symbol=NOPEUSDT", 200, `"retCode":10001`},
		{"/coinbaseexchange/products/NOPE-USD/ticker", 404, `"message":"NotFound"`},
		{"/bitstamp/api/v2/ticker/nopeusd/", 404, `"status":"error"`},
		{"/binance/api/v3/nothing", 404, `"code":-1000`},
	}
	for _, tt := range tests {
		r := f.get(t, tt.path)
		require.Equal(t, tt.status, r.status, tt.path)
		require.Contains(t, string(r.body), tt.want, tt.path)
	}
}

func TestScaleAndDeterminism(t *testing.T) {
	f := newFixture(t, Options{Symbols: []string{"BTC/USDT", "ETH/USDT"}, Scale: 50})
	v := decode(t, f.get(t, "/okx/api/v5/public/instruments?instType=SPOT").body)
	require.Equal(t, 50, length(t, dig(t, v, "data")))
	require.Equal(t, "BTC1-USDT", dig(t, v, "data", 2, "instId"))
	r := f.get(t, "/binance/api/v3/klines?symbol=ETH24USDT&interval=1h&startTime=1700000000000&limit=10")
	require.Equal(t, http.StatusOK, r.status)
	again := f.get(t, "/binance/api/v3/klines?symbol=ETH24USDT&interval=1h&startTime=1700000000000&limit=10")
	require.Equal(t, r.body, again.body, "same request, same answer")
	other := f.get(t, "/binance/api/v3/klines?symbol=BTC24USDT&interval=1h&startTime=1700000000000&limit=10")
	require.NotEqual(t, r.body, other.body, "symbols differ")
}

// TestCandleBounds: candles never lie in the future and the current one
// is partial (OKX confirm "0"; closed ones "1").
func TestCandleBounds(t *testing.T) {
	f := newFixture(t, Options{})
	now := testNow.UnixMilli()
	v := decode(t, f.get(t, "/okx/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=3").body)
	require.Equal(t, alignDown(now, minute), asMs(t, dig(t, v, "data", 0, 0), "ms"))
	require.Equal(t, "0", dig(t, v, "data", 0, 8))
	require.Equal(t, "1", dig(t, v, "data", 1, 8))
	// Asking for the future gives nothing beyond the current candle.
	v = decode(t, f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime="+itoa(now+hour)).body)
	require.Equal(t, 0, length(t, v))
	// OHLC consistency on every derived candle.
	v = decode(t, f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=1000").body)
	for _, r := range v.([]any) {
		row := r.([]any)
		o, h, l, c := num(row[1]), num(row[2]), num(row[3]), num(row[4])
		require.True(t, l <= o && l <= c && h >= o && h >= c && l > 0, "row %v", row)
	}
}

// TestHTXCandlesRange: /market/history/candles honours from (forward page
// from it, newest first in the body) and to; /market/history/kline ignores
// both.
func TestHTXCandlesRange(t *testing.T) {
	f := newFixture(t, Options{})
	from := alignDown(testNow.Add(-2*time.Hour).UnixMilli(), minute)
	v := decode(t, f.get(t, "/htx/market/history/candles?symbol=btcusdt&period=1min&size=3&from="+itoa(from/1000)).body)
	require.Equal(t, from+2*minute, asMs(t, dig(t, v, "data", 0, "id"), "s"))
	require.Equal(t, from, asMs(t, dig(t, v, "data", 2, "id"), "s"))
	v = decode(t, f.get(t, "/htx/market/history/candles?symbol=btcusdt&period=1min&size=2&to="+itoa(from/1000)).body)
	require.Equal(t, from, asMs(t, dig(t, v, "data", 0, "id"), "s"))
	v = decode(t, f.get(t, "/htx/market/history/kline?symbol=btcusdt&period=1min&size=1&from="+itoa(from/1000)).body)
	require.Equal(t, alignDown(testNow.UnixMilli(), minute), asMs(t, dig(t, v, "data", 0, "id"), "s"))
}

// TestBudget: a replaced budget is enforced in its own window, reported by
// the admin API, and restored by a zero budget.
func TestBudget(t *testing.T) {
	f := newFixture(t, Options{RateLimits: map[string]bool{}, Budgets: map[string]Budget{"binance": {Limit: 5, Window: time.Minute}}})
	const path = "/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1" // weight 2
	for i := range 2 {
		r := f.get(t, path)
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
		require.Equal(t, strconv.Itoa(2*(i+1)), r.header.Get("X-MBX-USED-WEIGHT-1M"))
	}
	r := f.get(t, path)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.NotEmpty(t, r.header.Get("Retry-After"))

	r = f.get(t, "/_admin/ratelimits")
	require.Contains(t, string(r.body), `"budget":{"limit":5,"window":"1m0s"}`)

	r = f.do(t, http.MethodPost, "/_admin/ratelimits", []byte(`{"exchange":"binance","limit":0}`))
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, http.StatusOK, f.get(t, path).status, "published budget restored")

	r = f.do(t, http.MethodPost, "/_admin/ratelimits", []byte(`{"exchange":"binance","limit":3,"window":"soon"}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.ErrorIs(t, f.h.SetBudget("binance", Budget{Limit: 3}), ErrBadBudget)
	require.ErrorIs(t, f.h.SetBudget("nowhere", Budget{Limit: 3, Window: time.Second}), ErrUnknownExchange)
	_, err := New(Options{Fixtures: os.DirFS("../../testdata/replay"), Budgets: map[string]Budget{"binance": {Limit: -1, Window: time.Second}}})
	require.ErrorIs(t, err, ErrBadBudget)
}

// TestBadParams: a handler reads its parameters in order and answers the
// first that fails, in the exchange's words.
func TestBadParams(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/bybit/v5/market/kline?category=linear&symbol=NOPEUSDT&interval=7", 200, `"retMsg":"Illegal category"`},
		{"/bybit/v5/market/tickers?category=linear&symbol=NOPEUSDT", 200, `"retMsg":"Illegal category"`},
		{"/bybit/v5/market/instruments-info?category=spot&symbol=NOPEUSDT", 200, `"retMsg":"Not supported symbols"`},
		{"/bybit/v5/market/kline?category=spot&symbol=NOPEUSDT&interval=7&start=x", 200, `"retMsg":"Not supported symbols"`},
		{"/bybit/v5/market/kline?category=spot&symbol=BTCUSDT&interval=7&start=x", 200, `"retMsg":"Illegal interval"`},
		{"/bybit/v5/market/kline?category=spot&symbol=BTCUSDT&interval=1&limit=x&start=x", 200, `"retMsg":"invalid limit"`},
		{"/bybit/v5/market/kline?category=spot&symbol=BTCUSDT&interval=1&start=x", 200, `"retMsg":"invalid start"`},
		{"/bitstamp/api/v2/ohlc/btcusd/?step=7&limit=x", 400, `Invalid step`},
		{"/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=0&start=x", 400, `limit: must be between 1 and 1000`},
		{"/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=1&start=x", 400, `invalid start`},
		{"/kraken/0/public/OHLC?pair=XBTUSDT&interval=7", 200, `EGeneral:Invalid arguments`},
		{"/kraken/0/public/OHLC?pair=XBTUSDT&interval=1&since=x", 200, `EGeneral:Invalid arguments`},
		{"/coinbaseexchange/products/BTC-USD/candles?granularity=7", 400, `Unsupported granularity`},
		{"/kucoin/api/v1/market/candles?symbol=BTC-USDT&type=7min&startAt=x", 400, `Unsupported type`},
		{"/kucoin/api/v1/market/candles?symbol=BTC-USDT&type=1min&startAt=x", 400, `invalid startAt`},
		{"/okx/api/v5/market/candles?instId=BTC-USDT&bar=7m&limit=x", 400, `"msg":"Parameter bar error"`},
		{"/okx/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=x", 400, `"msg":"Parameter invalid limit error"`},
		{"/okx/api/v5/market/history-trades?instId=BTC-USDT&after=x", 400, `invalid after`},
		{"/coinbaseexchange/products/BTC-USD/trades?before=x", 400, `invalid before`},
		{"/binance/api/v3/aggTrades?symbol=BTCUSDT&fromId=x", 400, `invalid fromId`},
	}
	for _, tt := range tests {
		r := f.get(t, tt.path)
		require.Equal(t, tt.status, r.status, tt.path)
		require.Contains(t, string(r.body), tt.want, tt.path)
	}
}
