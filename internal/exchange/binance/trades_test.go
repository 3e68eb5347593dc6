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
	tests := []struct {
		name       string
		from, n    int
		limit      int
		path       string
		more, lost bool
	}{
		{"the next page", 101, 3, 0, "/api/v3/aggTrades?fromId=101&limit=1000&symbol=BTCUSDT", false, false},
		{"a full page", 101, 5, 5, "/api/v3/aggTrades?fromId=101&limit=5&symbol=BTCUSDT", true, false},
		{"ids past the cursor's next", 150, 2, 0, "/api/v3/aggTrades?fromId=101&limit=1000&symbol=BTCUSDT", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return aggTrades(tt.from, tt.n), nil })
			pg, err := New(fake).TradesAfter(context.Background(), "BTC/USDT", cursor, tt.limit)
			require.NoError(t, err)
			require.Equal(t, exchange.Request{Endpoint: "aggTrades", Path: tt.path, Weight: 4}, fake.Last())
			require.Len(t, pg.Trades, tt.n)
			require.Equal(t, fmt.Sprint(tt.from), pg.Trades[0].ID)
			require.Equal(t, "BTC/USDT", string(pg.Trades[0].Symbol))
			require.Equal(t, tt.more, pg.More)
			require.Equal(t, tt.lost, pg.Lost)
		})
	}
	fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return aggTrades(1, 2), nil })
	pg, err := New(fake).TradesAfter(context.Background(), "BTC/USDT", exchange.TradeCursor{}, 0)
	require.NoError(t, err)
	require.Len(t, pg.Trades, 2)
	require.Equal(t, "/api/v3/aggTrades?limit=1000&symbol=BTCUSDT", fake.Last().Path, "no cursor: the latest trades")
	_, err = New(fake).TradesAfter(context.Background(), "BTC/USDT", exchange.TradeCursor{ID: "x1"}, 0)
	require.ErrorIs(t, err, exchange.ErrBadCursor)
}
