package exchange_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

type requesterFunc func(context.Context, exchange.Request) ([]byte, error)

func (f requesterFunc) Get(ctx context.Context, r exchange.Request) ([]byte, error) { return f(ctx, r) }

func answering(body string, got *exchange.Request) requesterFunc {
	return func(_ context.Context, r exchange.Request) ([]byte, error) {
		*got = r
		return []byte(body), nil
	}
}

func TestBaseGet(t *testing.T) {
	var got exchange.Request
	b := &exchange.Base{Name: "x", R: answering(`{"error":1}`, &got)}
	body, err := b.Get(context.Background(), "ticker", "/t", url.Values{"b": {"2"}, "a": {"1"}}, 3)
	require.NoError(t, err)
	require.Equal(t, `{"error":1}`, string(body), "the body comes back as the requester returned it")
	require.Equal(t, exchange.Request{Endpoint: "ticker", Path: "/t?a=1&b=2", Weight: 3}, got)

	_, err = b.Get(context.Background(), "ticker", "/t", nil, 1)
	require.NoError(t, err)
	require.Equal(t, "/t", got.Path, "no query, no question mark")

	errNet := errors.New("down")
	down := &exchange.Base{Name: "x", R: requesterFunc(func(context.Context, exchange.Request) ([]byte, error) { return nil, errNet })}
	_, err = down.Get(context.Background(), "ticker", "/t", nil, 1)
	require.ErrorIs(t, err, errNet)
	require.EqualError(t, err, "requesting x ticker: down")
	require.Equal(t, "x", down.ID())
}

// TestFetch: a body the parser refuses is a DecodeError keeping it whole;
// a failed request is not.
func TestFetch(t *testing.T) {
	var got exchange.Request
	b := &exchange.Base{Name: "x", R: answering(`[1,"a"]`, &got)}
	errParse := errors.New("not a number")
	parse := func(body []byte) (int, error) { return len(body), errParse }
	_, err := exchange.Fetch(context.Background(), b, "trades", "/t", nil, 2, parse)
	var de *exchange.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, exchange.DecodeError{Exchange: "x", Endpoint: "trades", Payload: []byte(`[1,"a"]`), Err: errParse}, *de)
	require.ErrorIs(t, err, errParse)

	n, err := exchange.Fetch(context.Background(), b, "trades", "/t", nil, 2, func(body []byte) (int, error) { return len(body), nil })
	require.NoError(t, err)
	require.Equal(t, 7, n)

	errNet := errors.New("down")
	down := &exchange.Base{Name: "x", R: requesterFunc(func(context.Context, exchange.Request) ([]byte, error) { return nil, errNet })}
	_, err = exchange.Fetch(context.Background(), down, "trades", "/t", nil, 2, parse)
	require.ErrorIs(t, err, errNet)
	require.False(t, errors.As(err, &de), "no body, no decode error")
}

func TestMarketID(t *testing.T) {
	b := &exchange.Base{Name: "x"}
	derive := func(s market.Symbol) string {
		if s.Quote() == "" {
			return ""
		}
		return s.Base() + "-" + s.Quote()
	}
	id, err := b.MarketID("BTC/USDT", derive)
	require.NoError(t, err)
	require.Equal(t, "BTC-USDT", id, "derived before the markets are loaded")
	_, err = b.MarketID("BTC", derive)
	require.ErrorIs(t, err, exchange.ErrUnknownSymbol, "what the rule cannot name")
	_, err = b.MarketID("BTC/USDT", nil)
	require.ErrorIs(t, err, exchange.ErrUnknownSymbol, "no rule: the markets are needed")

	b.Index.Set([]market.Market{{ID: "XBTUSDT", Symbol: "BTC/USDT"}})
	id, err = b.MarketID("BTC/USDT", derive)
	require.NoError(t, err)
	require.Equal(t, "XBTUSDT", id, "the index wins once loaded")
	_, err = b.MarketID("ETH/USDT", derive)
	require.ErrorIs(t, err, exchange.ErrUnknownSymbol, "a symbol the markets do not list")
	require.EqualError(t, err, "x ETH/USDT: unknown symbol")
}

// TestMarketsLoadedOnce: concurrent callers load the markets once; a
// failed load is tried again by the next caller.
func TestMarketsLoadedOnce(t *testing.T) {
	var got exchange.Request
	b := &exchange.Base{Name: "x", R: answering(`["BTC-USDT"]`, &got)}
	var loads atomic.Int32
	fail := true
	var failMu sync.Mutex
	load := func(ctx context.Context) ([]market.Market, error) {
		loads.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if fail {
			fail = false
			return nil, errors.New("flaky")
		}
		return b.LoadMarkets(ctx, "markets", "/m", nil, 1, func([]byte) ([]market.Market, error) {
			return []market.Market{{ID: "BTC-USDT", Symbol: "BTC/USDT"}}, nil
		})
	}
	require.Error(t, b.EnsureMarkets(context.Background(), load))
	require.False(t, b.Index.Loaded())
	errs := make(chan error)
	for range 8 {
		go func() { errs <- b.EnsureMarkets(context.Background(), load) }()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, int32(2), loads.Load(), "one failed load, then one for all eight")
	m, ok := b.Index.ByID("BTC-USDT")
	require.True(t, ok)
	require.Equal(t, market.Symbol("BTC/USDT"), m.Symbol)
	require.Equal(t, "/m", got.Path)
}

func TestFinish(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2024, 3, 13, 12, min, 0, 0, time.UTC) }
	candles := func() []market.Candle {
		return []market.Candle{{Time: at(0)}, {Time: at(1)}, {Time: at(2)}, {Time: at(3)}}
	}
	cs := exchange.FinishCandles(candles(), "BTC/USDT", market.TF1m, time.Time{}, 2)
	require.Len(t, cs, 2)
	require.Equal(t, at(2), cs[0].Time, "the latest: the newest ones")
	require.Equal(t, market.Symbol("BTC/USDT"), cs[1].Symbol)
	require.Equal(t, market.TF1m, cs[1].Timeframe)
	cs = exchange.FinishCandles(candles(), "BTC/USDT", market.TF1m, at(1).Add(time.Second), 1)
	require.Equal(t, []time.Time{at(2)}, []time.Time{cs[0].Time}, "from since: the first at or after it")
	require.Len(t, exchange.FinishCandles(candles(), "BTC/USDT", market.TF1m, at(1), 0), 3, "limit 0 keeps all")

	ts := exchange.FinishTrades([]market.Trade{{Time: at(0), ExchangeSymbol: "row"}, {Time: at(1), ExchangeSymbol: "row"}}, "BTC/USDT", "", at(1), 0)
	require.Equal(t, []market.Trade{{Time: at(1), Symbol: "BTC/USDT", ExchangeSymbol: "row"}}, ts, `id "": the row's is kept`)
	ts = exchange.FinishTrades([]market.Trade{{Time: at(0)}, {Time: at(1)}}, "BTC/USDT", "BTCUSDT", time.Time{}, 1)
	require.Equal(t, []market.Trade{{Time: at(1), Symbol: "BTC/USDT", ExchangeSymbol: "BTCUSDT"}}, ts)

	lv := func(p string) market.Level {
		return market.Level{Price: market.MustDecimal(p), Amount: market.MustDecimal("1")}
	}
	book := market.OrderBook{Bids: []market.Level{lv("3"), lv("2"), lv("1")}, Asks: []market.Level{lv("4")}}
	b := exchange.FinishBook(book, "BTC/USDT", "BTCUSDT", 2)
	require.Equal(t, market.Symbol("BTC/USDT"), b.Symbol)
	require.Equal(t, "BTCUSDT", b.ExchangeSymbol)
	require.Equal(t, []market.Level{lv("3"), lv("2")}, b.Bids)
	require.Equal(t, []market.Level{lv("4")}, b.Asks)
	require.Len(t, exchange.FinishBook(book, "BTC/USDT", "BTCUSDT", 0).Bids, 3, "depth 0: whole")
}

func TestKeep(t *testing.T) {
	rows := []int{1, 2, 3, 4}
	require.Equal(t, rows, exchange.Keep(rows, 0, true))
	require.Equal(t, rows, exchange.Keep(rows, 9, false))
	require.Equal(t, []int{3, 4}, exchange.Keep(rows, 2, true))
	require.Equal(t, []int{1, 2}, exchange.Keep(rows, 2, false))
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{0, 100}, {-1, 100}, {50, 50}, {1000, 1000}, {5000, 1000}} {
		require.Equal(t, tc.want, exchange.Limit(tc.n, 100, 1000), "n %d", tc.n)
	}
}
