package okx

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
)

// okxTrades answers ids from..from+n-1, newest first.
func okxTrades(from, n int) []byte {
	rows := make([]string, n)
	for i := range rows {
		id := from + n - 1 - i
		rows[i] = fmt.Sprintf(`{"instId":"BTC-USDT","side":"buy","sz":"1","px":"100","tradeId":"%d","ts":"%d"}`, id, 1700000000000+id)
	}
	return []byte(`{"code":"0","msg":"","data":[` + strings.Join(rows, ",") + `]}`)
}

func TestTradesAfter(t *testing.T) {
	cursor := exchange.TradeCursor{ID: "500"}
	exchangetest.TradePages(t, func(r exchange.Requester) exchange.TradePager { return New(r) }, "BTC/USDT", cursor, okxTrades, []exchangetest.PageCase{{
		Name: "a full id window", From: 501, N: 100, More: true,
		Want: exchange.Request{Endpoint: "trades_history", Weight: weightHistoryTrades,
			Path: "/api/v5/market/history-trades?after=601&before=500&instId=BTC-USDT&limit=100&type=1"},
	}})
	t.Run("the present", func(t *testing.T) {
		fake := exchangetest.FuncRequester(func(r exchange.Request) ([]byte, error) {
			if strings.Contains(r.Path, "history") {
				return okxTrades(0, 0), nil
			}
			return okxTrades(450, 51), nil // up to the cursor: nothing new
		})
		pg, err := New(fake).TradesAfter(context.Background(), "BTC/USDT", cursor, 0)
		require.NoError(t, err)
		require.Empty(t, pg.Trades)
		require.False(t, pg.More)
		require.False(t, pg.Lost)
		require.Equal(t, "/api/v5/market/trades?instId=BTC-USDT&limit=500", fake.Last().Path)
	})
	t.Run("no longer served", func(t *testing.T) {
		fake := exchangetest.FuncRequester(func(r exchange.Request) ([]byte, error) {
			if strings.Contains(r.Path, "history") {
				return okxTrades(0, 0), nil
			}
			return okxTrades(9000, 3), nil
		})
		pg, err := New(fake).TradesAfter(context.Background(), "BTC/USDT", cursor, 0)
		require.NoError(t, err)
		require.True(t, pg.Lost)
		require.Len(t, pg.Trades, 3)
		require.Equal(t, "9000", pg.Trades[0].ID)
	})
	_, err := New(exchangetest.FuncRequester(nil)).TradesAfter(context.Background(), "BTC/USDT", exchange.TradeCursor{ID: "uuid-ish"}, 0)
	require.ErrorIs(t, err, exchange.ErrBadCursor)
}
