package replay

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCandlePaging follows each exchange's pages over a range larger than
// one page and checks that every candle comes exactly once, contiguous,
// from the first of the range to the last (or the current candle).
func TestCandlePaging(t *testing.T) {
	f := newFixture(t, Options{})
	now := testNow.UnixMilli()
	get := func(t *testing.T, path string) any {
		t.Helper()
		r := f.get(t, path)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		return decode(t, r.body)
	}
	rowTimes := func(t *testing.T, rows any, at func(row any) any, unit string) []int64 {
		var out []int64
		for _, r := range rows.([]any) {
			out = append(out, asMs(t, at(r), unit))
		}
		return out
	}
	col0 := func(r any) any { return r.([]any)[0] }
	// okxBackward pages an OKX candles endpoint from the newest candle back,
	// each page after (older than) the last one's oldest.
	okxBackward := func(path string) func(t *testing.T, from, to int64) ([]int64, int) {
		return func(t *testing.T, from, to int64) ([]int64, int) {
			var all []int64
			n := 0
			for after := to + 1; ; n++ {
				v := get(t, fmt.Sprintf("%s&before=%d&after=%d", path, from-1, after))
				ts := rowTimes(t, dig(t, v, "data"), col0, "ms")
				if len(ts) == 0 {
					return all, n
				}
				all = append(all, ts...)
				after = ts[len(ts)-1]
			}
		}
	}
	tests := []struct {
		name     string
		tf       int64
		from, to int64 // requested open-time range, ms
		onePage  bool  // the exchange serves the whole window at once (Kraken's 720)
		pages    func(t *testing.T, from, to int64) (times []int64, requests int)
	}{
		{name: "binance startTime forward", tf: hour, from: alignDown(now, hour) - 2500*hour, to: now,
			pages: func(t *testing.T, from, to int64) ([]int64, int) {
				var all []int64
				n := 0
				for start := from; ; n++ {
					ts := rowTimes(t, get(t, fmt.Sprintf("/binance/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=%d&endTime=%d&limit=1000", start, to)), col0, "ms")
					if len(ts) == 0 {
						return all, n
					}
					all = append(all, ts...)
					start = ts[len(ts)-1] + 1
				}
			}},
		{name: "kucoin endAt backward", tf: 15 * minute, from: alignDown(now, 15*minute) - 4000*15*minute, to: now,
			pages: func(t *testing.T, from, to int64) ([]int64, int) {
				var all []int64
				n := 0
				for end := to / 1000; ; n++ {
					v := get(t, fmt.Sprintf("/kucoin/api/v1/market/candles?symbol=BTC-USDT&type=15min&startAt=%d&endAt=%d", from/1000, end))
					ts := rowTimes(t, dig(t, v, "data"), col0, "s")
					if len(ts) == 0 {
						return all, n
					}
					require.True(t, slices.IsSortedFunc(ts, func(a, b int64) int { return int(b - a) }), "newest first")
					all = append(all, ts...)
					end = ts[len(ts)-1]/1000 - 1
				}
			}},
		{name: "okx history-candles after backward", tf: 4 * hour, from: alignDown(now, 4*hour) - 350*4*hour, to: now,
			pages: okxBackward("/okx/api/v5/market/history-candles?instId=BTC-USDT&bar=4H")},
		{name: "okx candles recent window", tf: minute, from: alignDown(now, minute) - 1000*minute, to: now,
			pages: okxBackward("/okx/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=300")},
		{name: "bybit end backward", tf: 5 * minute, from: alignDown(now, 5*minute) - 2200*5*minute, to: now,
			pages: func(t *testing.T, from, to int64) ([]int64, int) {
				var all []int64
				n := 0
				for end := to; ; n++ {
					v := get(t, fmt.Sprintf("/bybit/v5/market/kline?category=spot&symbol=BTCUSDT&interval=5&start=%d&end=%d&limit=1000", from, end))
					ts := rowTimes(t, dig(t, v, "result", "list"), col0, "ms")
					if len(ts) == 0 {
						return all, n
					}
					all = append(all, ts...)
					end = ts[len(ts)-1] - 1
				}
			}},
		{name: "coinbase 300-candle windows", tf: hour, from: alignDown(now, hour) - 1000*hour, to: now,
			pages: func(t *testing.T, from, to int64) ([]int64, int) {
				var all []int64
				n := 0
				for start := from; start <= to; n++ {
					end := min(start+299*hour, to)
					v := get(t, fmt.Sprintf("/coinbaseexchange/products/BTC-USD/candles?granularity=3600&start=%d&end=%d", start/1000, end/1000))
					all = append(all, rowTimes(t, v, col0, "s")...)
					start = end + hour
				}
				return all, n
			}},
		{name: "bitstamp start forward", tf: minute, from: alignDown(now, minute) - 2345*minute, to: now,
			pages: func(t *testing.T, from, to int64) ([]int64, int) {
				var all []int64
				n := 0
				for start := from / 1000; ; n++ {
					v := get(t, fmt.Sprintf("/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=1000&start=%d", start))
					ts := rowTimes(t, dig(t, v, "data", "ohlc"), func(r any) any { return r.(map[string]any)["timestamp"] }, "s")
					if len(ts) == 0 {
						return all, n
					}
					all = append(all, ts...)
					start = ts[len(ts)-1]/1000 + 60
				}
			}},
		{name: "kraken since within the 720 window", tf: 5 * minute, from: alignDown(now, 5*minute) - 500*5*minute, to: now, onePage: true,
			pages: func(t *testing.T, from, _ int64) ([]int64, int) {
				v := get(t, fmt.Sprintf("/kraken/0/public/OHLC?pair=XBTUSDT&interval=5&since=%d", from/1000-1))
				return rowTimes(t, dig(t, v, "result", "XBTUSDT"), col0, "s"), 1
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			times, requests := tt.pages(t, tt.from, tt.to)
			slices.Sort(times)
			if !tt.onePage {
				require.Greater(t, requests, 1, "the range must need more than one page")
			}
			require.Equal(t, alignUp(tt.from, tt.tf), times[0])
			require.Equal(t, min(alignDown(tt.to, tt.tf), alignDown(now, tt.tf)), times[len(times)-1])
			for i := 1; i < len(times); i++ {
				require.Equal(t, tt.tf, times[i]-times[i-1], "gap or duplicate at %d", times[i])
			}
		})
	}
}

// TestTradePaging follows trade cursors; ids must be contiguous, each once.
func TestTradePaging(t *testing.T) {
	f := newFixture(t, Options{})
	now := testNow.UnixMilli()
	ids := func(t *testing.T, rows []any, key func(any) any) []int64 {
		var out []int64
		for _, r := range rows {
			n, err := strconv.ParseInt(str(key(r)), 10, 64)
			require.NoError(t, err)
			out = append(out, n)
		}
		return out
	}
	field := func(k string) func(any) any { return func(r any) any { return r.(map[string]any)[k] } }
	tests := []struct {
		name  string
		pages func(t *testing.T) []int64
	}{
		{"binance aggTrades fromId", func(t *testing.T) []int64 {
			v := decode(t, f.get(t, fmt.Sprintf("/binance/api/v3/aggTrades?symbol=BTCUSDT&startTime=%d&endTime=%d&limit=1000", now-hour, now-hour/2)).body)
			all := ids(t, v.([]any), field("a"))
			for i := 0; i < 3; i++ {
				v = decode(t, f.get(t, fmt.Sprintf("/binance/api/v3/aggTrades?symbol=BTCUSDT&fromId=%d&limit=1000", all[len(all)-1]+1)).body)
				all = append(all, ids(t, v.([]any), field("a"))...)
			}
			return all
		}},
		{"coinbase after cursor", func(t *testing.T) []int64 {
			var all []int64
			path := "/coinbaseexchange/products/BTC-USD/trades?limit=100"
			for i := 0; i < 4; i++ {
				r := f.get(t, path)
				all = append(all, ids(t, decode(t, r.body).([]any), field("trade_id"))...)
				path = "/coinbaseexchange/products/BTC-USD/trades?limit=100&after=" + r.header.Get("Cb-After")
			}
			return all
		}},
		{"okx history-trades after", func(t *testing.T) []int64 {
			var all []int64
			path := "/okx/api/v5/market/history-trades?instId=BTC-USDT"
			for i := 0; i < 4; i++ {
				page := ids(t, dig(t, decode(t, f.get(t, path).body), "data").([]any), field("tradeId"))
				all = append(all, page...)
				path = fmt.Sprintf("/okx/api/v5/market/history-trades?instId=BTC-USDT&after=%d", page[len(page)-1])
			}
			return all
		}},
		{"kraken since cursor", func(t *testing.T) []int64 {
			var all []int64
			since := strconv.FormatInt((now-2*hour)*1_000_000, 10)
			for i := 0; i < 3; i++ {
				v := decode(t, f.get(t, "/kraken/0/public/Trades?pair=XBTUSDT&count=500&since="+since).body)
				all = append(all, ids(t, dig(t, v, "result", "XBTUSDT").([]any), func(r any) any { return r.([]any)[6] })...)
				since = str(dig(t, v, "result", "last"))
			}
			return all
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := tt.pages(t)
			require.Greater(t, len(all), 300)
			slices.Sort(all)
			for i := 1; i < len(all); i++ {
				require.Equal(t, int64(1), all[i]-all[i-1], "gap or duplicate at %d", all[i])
			}
		})
	}
}

func TestPagingErrors(t *testing.T) {
	f := newFixture(t, Options{})
	now := testNow.UnixMilli()
	r := f.get(t, fmt.Sprintf("/coinbaseexchange/products/BTC-USD/candles?granularity=60&start=%d&end=%d", (now-400*minute)/1000, now/1000))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "exceeds 300")
	r = f.get(t, fmt.Sprintf("/binance/api/v3/aggTrades?symbol=BTCUSDT&startTime=%d&endTime=%d", now-2*hour, now))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "-1127")
	r = f.get(t, "/binance/api/v3/klines?symbol=BTCUSDT&interval=7m")
	require.Equal(t, http.StatusBadRequest, r.status)
	r = f.get(t, "/kraken/0/public/OHLC?pair=XBTUSDT&interval=7")
	require.Contains(t, string(r.body), "EGeneral:Invalid arguments")
}

// TestTradeRate: Options.TradeRate sets how many trades a symbol makes per
// second, TradesBetween counts them, and each exchange's cursor pages
// through them at that rate with every id once: Binance aggTrades fromId,
// Kraken since, Coinbase before, OKX history-trades id windows, and
// Bitstamp's minute window holding every trade of the minute. The
// latest-N endpoints (KuCoin, HTX, Bybit) serve the newest N.
func TestTradeRate(t *testing.T) {
	const rate = 100
	f := newFixture(t, Options{TradeRate: rate})
	now := testNow.UnixMilli()
	n, err := f.h.TradesBetween("binance", "BTC/USDT", testNow.Add(-time.Minute), testNow)
	require.NoError(t, err)
	require.InDelta(t, 60*rate, n, 2, "trades in a minute at %d/s", rate)
	_, err = f.h.TradesBetween("nowhere", "BTC/USDT", testNow, testNow)
	require.ErrorIs(t, err, ErrUnknownExchange)
	_, err = New(Options{Fixtures: os.DirFS("../../testdata/replay"), TradeRate: -1})
	require.ErrorIs(t, err, ErrBadTradeRate)

	get := func(t *testing.T, path string) any {
		t.Helper()
		r := f.get(t, path)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		return decode(t, r.body)
	}
	ids := func(t *testing.T, rows any, key func(any) any) []int64 {
		t.Helper()
		var out []int64
		for _, r := range rows.([]any) {
			n, err := strconv.ParseInt(str(key(r)), 10, 64)
			require.NoError(t, err)
			require.Positive(t, n)
			out = append(out, n)
		}
		return out
	}
	field := func(k string) func(any) any { return func(r any) any { return r.(map[string]any)[k] } }
	from := now - 2*minute // every pager starts here and runs to now
	want, err := f.h.TradesBetween("binance", "BTC/USDT", time.UnixMilli(from), testNow)
	require.NoError(t, err)
	tests := []struct {
		name  string
		pages func(t *testing.T) []int64
	}{
		{"binance aggTrades fromId", func(t *testing.T) []int64 {
			first := ids(t, get(t, fmt.Sprintf("/binance/api/v3/aggTrades?symbol=BTCUSDT&startTime=%d&limit=1", from)), field("a"))
			all := first
			for {
				page := ids(t, get(t, fmt.Sprintf("/binance/api/v3/aggTrades?symbol=BTCUSDT&fromId=%d&limit=1000", all[len(all)-1]+1)), field("a"))
				if len(page) == 0 {
					return all
				}
				all = append(all, page...)
			}
		}},
		{"kraken since", func(t *testing.T) []int64 {
			var all []int64
			since := strconv.FormatInt(from*1_000_000-1, 10)
			for {
				v := get(t, "/kraken/0/public/Trades?pair=XBTUSDT&count=1000&since="+since)
				page := ids(t, dig(t, v, "result", "XBTUSDT"), func(r any) any { return r.([]any)[6] })
				if len(page) == 0 {
					return all
				}
				all = append(all, page...)
				since = str(dig(t, v, "result", "last"))
			}
		}},
		{"coinbase before", func(t *testing.T) []int64 {
			// Find the first trade of the span by paging back, then page forward with before=.
			r := f.get(t, "/coinbaseexchange/products/BTC-USDT/trades?limit=1000")
			newest := ids(t, decode(t, r.body), field("trade_id"))
			cursor := newest[len(newest)-1] - int64(want) + int64(len(newest)) - 1
			var all []int64
			for {
				page := ids(t, get(t, fmt.Sprintf("/coinbaseexchange/products/BTC-USDT/trades?limit=1000&before=%d", cursor)), field("trade_id"))
				if len(page) == 0 {
					return all
				}
				slices.Reverse(page) // newest first on the wire
				all = append(all, page...)
				cursor = page[len(page)-1]
			}
		}},
		{"okx history-trades windows", func(t *testing.T) []int64 {
			newest := ids(t, dig(t, get(t, "/okx/api/v5/market/trades?instId=BTC-USDT&limit=1"), "data"), field("tradeId"))
			cursor := newest[0] - int64(want)
			var all []int64
			for {
				page := ids(t, dig(t, get(t, fmt.Sprintf("/okx/api/v5/market/history-trades?instId=BTC-USDT&type=1&limit=100&before=%d&after=%d", cursor, cursor+101)), "data"), field("tradeId"))
				if len(page) == 0 {
					return all
				}
				slices.Reverse(page)
				all = append(all, page...)
				cursor = page[len(page)-1]
			}
		}},
		{"bitstamp minute windows", func(t *testing.T) []int64 {
			// Two polls a minute apart: each window holds every trade of its minute.
			f.clock.Add(-time.Minute)
			all := ids(t, get(t, "/bitstamp/api/v2/transactions/btcusdt/?time=minute"), field("tid"))
			f.clock.Add(time.Minute)
			require.InDelta(t, 60*rate, len(all), 2, "every trade of the minute")
			all = append(all, ids(t, get(t, "/bitstamp/api/v2/transactions/btcusdt/?time=minute"), field("tid"))...)
			return all
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := tt.pages(t)
			slices.Sort(all)
			require.InDelta(t, want, len(all), 1, "two minutes of trades")
			for i := 1; i < len(all); i++ {
				require.Equal(t, int64(1), all[i]-all[i-1], "gap or duplicate at %d", all[i])
			}
		})
	}

	latest := []struct {
		path string
		n    int
		rows func(v any) any
	}{
		{"/kucoin/api/v1/market/histories?symbol=BTC-USDT", 100, func(v any) any { return dig(t, v, "data") }},
		{"/htx/market/history/trade?symbol=btcusdt&size=2000", 2000, func(v any) any { return dig(t, v, "data") }},
		{"/bybit/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=60", 60, func(v any) any { return dig(t, v, "result", "list") }},
	}
	for _, l := range latest {
		require.Equal(t, l.n, length(t, l.rows(get(t, l.path))), l.path)
	}
}
