package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

func TestCompareTradeIDs(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"9", "10", -1}, {"10", "9", 1}, {"102882518926", "102882518926", 0}, {"007", "7", 0},
		{"99999999999999999999", "100000000000000000000", -1}, // beyond int64
		{"b-uuid", "a-uuid", 1},                               // no order: as text
	} {
		require.Equal(t, tc.want, exchange.CompareTradeIDs(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

func TestNextTradeID(t *testing.T) {
	for in, want := range map[string]string{"0": "1", "41": "42", "99": "100", "1999": "2000", "9223372036854775807": "9223372036854775808"} {
		got, ok := exchange.NextTradeID(in)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	_, ok := exchange.NextTradeID("9afd1288-b444")
	require.False(t, ok)
}

func TestCursorAfter(t *testing.T) {
	at := time.Unix(1700000000, 0)
	c := exchange.TradeCursor{ID: "100", Time: at}
	tr := func(id string, d time.Duration) market.Trade { return market.Trade{ID: id, Time: at.Add(d)} }
	require.True(t, exchange.TradeCursor{}.After(tr("1", -time.Hour)), "everything is after the start")
	require.True(t, c.After(tr("101", 0)), "same instant, greater id")
	require.False(t, c.After(tr("99", 0)))
	require.False(t, c.After(tr("100", 0)))
	require.True(t, c.After(tr("5", time.Millisecond)), "later")
	require.False(t, c.After(tr("500", -time.Millisecond)), "earlier")
	u := exchange.TradeCursor{ID: "uuid-a", Time: at}
	require.True(t, u.After(tr("uuid-b", 0)), "unordered ids at one instant: another id is another trade")
	require.False(t, u.After(tr("uuid-a", 0)))
}

func TestSortTrades(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ts := []market.Trade{{ID: "11", Time: at}, {ID: "9", Time: at}, {ID: "10", Time: at}, {ID: "1", Time: at.Add(-time.Second)}}
	exchange.SortTrades(ts)
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	require.Equal(t, []string{"1", "9", "10", "11"}, ids)
}

type latestOnly struct{ exchange.Connector }

type pagerConn struct{ latestOnly }

func (pagerConn) TradesAfter(context.Context, market.Symbol, exchange.TradeCursor, int) (exchange.TradePage, error) {
	return exchange.TradePage{}, nil
}

type wrapper struct{ exchange.Connector }

func (w wrapper) Unwrap() exchange.Connector { return w.Connector }

func TestPagerOf(t *testing.T) {
	_, ok := exchange.PagerOf(latestOnly{})
	require.False(t, ok)
	_, ok = exchange.PagerOf(pagerConn{})
	require.True(t, ok)
	_, ok = exchange.PagerOf(wrapper{pagerConn{}})
	require.True(t, ok, "through a wrapper that unwraps")
	_, ok = exchange.PagerOf(wrapper{latestOnly{}})
	require.False(t, ok)
	_, ok = exchange.PagerOf(nil)
	require.False(t, ok)
}

func TestCursorNewer(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	ts := []market.Trade{{ID: "12", Time: at.Add(time.Millisecond)}, {ID: "11", Time: at}, {ID: "10", Time: at}, {ID: "9", Time: at.Add(-time.Millisecond)}}
	got := exchange.TradeCursor{ID: "10", Time: at}.Newer(ts)
	require.Equal(t, []string{"11", "12"}, []string{got[0].ID, got[1].ID}, "sorted, and after the cursor's id within its instant")
	require.Len(t, got, 2)
	require.Len(t, exchange.TradeCursor{}.Newer(ts), 4, "the zero cursor keeps all")
	require.Nil(t, exchange.TradeCursor{ID: "12", Time: at.Add(time.Millisecond)}.Newer(ts))
}

func TestIDPage(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	page := func(ids ...string) []market.Trade {
		var ts []market.Trade
		for i := len(ids) - 1; i >= 0; i-- { // newest first
			ts = append(ts, market.Trade{ID: ids[i], Time: at})
		}
		return ts
	}
	p := exchange.IDPage(page("101", "102"), "101", 2)
	require.Equal(t, "101", p.Trades[0].ID, "sorted by id within an instant")
	require.True(t, p.More, "a full page")
	require.False(t, p.Lost)
	p = exchange.IDPage(page("105"), "101", 2)
	require.True(t, p.Lost, "it does not start at the id after the cursor")
	require.False(t, p.More)
	p = exchange.IDPage(nil, "101", 2)
	require.False(t, p.Lost, "nothing new is not a loss")
}
