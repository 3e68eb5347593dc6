package binance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
)

// aggTrades answers ids from..from+n-1, one a millisecond.
func aggTrades(from, n int) []byte {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"a":%d,"p":"100.0","q":"1.5","f":1,"l":1,"T":%d,"m":true,"M":true}`, from+i, 1700000000000+from+i)
	}
	return []byte("[" + strings.Join(rows, ",") + "]")
}

func TestTradesAfter(t *testing.T) {
	cursor := exchange.TradeCursor{ID: "100", Time: time.UnixMilli(1700000000100)}
	req := func(path string) exchange.Request {
		return exchange.Request{Endpoint: "aggTrades", Path: path, Weight: 4}
	}
	exchangetest.TradePages(t, func(r exchange.Requester) exchange.TradePager { return New(r) }, "BTC/USDT", cursor, aggTrades, []exchangetest.PageCase{
		{Name: "the next page", From: 101, N: 3, Want: req("/api/v3/aggTrades?fromId=101&limit=1000&symbol=BTCUSDT")},
		{Name: "a full page", From: 101, N: 5, Limit: 5, Want: req("/api/v3/aggTrades?fromId=101&limit=5&symbol=BTCUSDT"), More: true},
		{Name: "ids past the cursor's next", From: 150, N: 2, Want: req("/api/v3/aggTrades?fromId=101&limit=1000&symbol=BTCUSDT"), Lost: true},
	})
	fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return aggTrades(1, 2), nil })
	pg, err := New(fake).TradesAfter(context.Background(), "BTC/USDT", exchange.TradeCursor{}, 0)
	require.NoError(t, err)
	require.Len(t, pg.Trades, 2)
	require.Equal(t, "/api/v3/aggTrades?limit=1000&symbol=BTCUSDT", fake.Last().Path, "no cursor: the latest trades")
	_, err = New(fake).TradesAfter(context.Background(), "BTC/USDT", exchange.TradeCursor{ID: "x1"}, 0)
	require.ErrorIs(t, err, exchange.ErrBadCursor)
}
