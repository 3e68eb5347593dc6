package exchangetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// PageCase is one TradesAfter call of TradePages, answered with a page of
// consecutive trade ids.
type PageCase struct {
	Name       string
	From, N    int              // the answer holds ids From..From+N-1
	Limit      int              // asked of TradesAfter
	Want       exchange.Request // the request it must send
	More, Lost bool
}

// TradePages runs each case on a pager built by newPager over a fake that
// answers page(c.From, c.N), in whatever order the exchange sends trades:
// TradesAfter(symbol, after, c.Limit) must send c.Want and return ids
// c.From.. oldest first, for symbol, with c.More and c.Lost.
func TradePages(t *testing.T, newPager func(exchange.Requester) exchange.TradePager, symbol market.Symbol,
	after exchange.TradeCursor, page func(from, n int) []byte, cases []PageCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			fake := FuncRequester(func(exchange.Request) ([]byte, error) { return page(c.From, c.N), nil })
			pg, err := newPager(fake).TradesAfter(context.Background(), symbol, after, c.Limit)
			require.NoError(t, err)
			require.Equal(t, c.Want, fake.Last())
			require.Len(t, pg.Trades, c.N)
			for i, tr := range pg.Trades {
				require.Equal(t, fmt.Sprint(c.From+i), tr.ID, "oldest first, ties of one instant in id order")
				require.Equal(t, symbol, tr.Symbol)
			}
			require.Equal(t, c.More, pg.More)
			require.Equal(t, c.Lost, pg.Lost)
		})
	}
}
