package replaytest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
)

// TestTradePagers pages every cursor-paging exchange forward from a trade
// a couple of seconds old, at 100 trades a second, through the real client
// and the exchange's own limits: every trade after the cursor comes once,
// in order, up to the present. Which connectors page is theirs to say
// (each pager asserts exchange.TradePager where it implements it).
func TestTradePagers(t *testing.T) {
	s := newServer(t, replay.Options{TradeRate: 100})
	for _, id := range registry.IDs() {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, s, id, clientOpts{})
			p, ok := c.Connector.(exchange.TradePager)
			if !ok {
				return // it serves only its latest trades
			}
			first, err := p.TradesAfter(testCtx(t), btcUSDT, exchange.TradeCursor{}, 0)
			require.NoError(t, err)
			require.NotEmpty(t, first.Trades, "the latest trades start capture")
			require.False(t, first.Lost)
			cursor := exchange.CursorOf(first.Trades[len(first.Trades)-1])
			time.Sleep(1500 * time.Millisecond) // 150 more trades
			var got []market.Trade
			var asked time.Time // when the last page was asked for
			for pages := 0; ; pages++ {
				require.Less(t, pages, 50, "paging does not end")
				asked = time.Now()
				pg, err := p.TradesAfter(testCtx(t), btcUSDT, cursor, 0)
				require.NoError(t, err)
				require.False(t, pg.Lost, "a recent cursor loses nothing")
				got = append(got, pg.Trades...)
				if len(pg.Trades) > 0 {
					cursor = exchange.CursorOf(pg.Trades[len(pg.Trades)-1])
				}
				if !pg.More {
					break
				}
			}
			require.Greater(t, len(got), 100)
			prev, err := strconv.ParseInt(first.Trades[len(first.Trades)-1].ID, 10, 64)
			require.NoError(t, err)
			for i, tr := range got {
				require.Equal(t, btcUSDT, tr.Symbol)
				n, err := strconv.ParseInt(tr.ID, 10, 64)
				require.NoError(t, err)
				require.Equal(t, prev+1, n, "trade %d: gap or repeat after id %d", i, prev)
				prev = n
				if i > 0 {
					require.False(t, tr.Time.Before(got[i-1].Time), "trade %d out of order", i)
				}
			}
			// The last page reaches the trades made by the time it was asked
			// for (a loaded machine may take seconds over the paging), to the
			// second: Bitstamp's trade times have no finer part.
			require.False(t, got[len(got)-1].Time.Before(asked.Add(-time.Second).Truncate(time.Second)),
				"paged up to the present: last trade %s, last page asked at %s", got[len(got)-1].Time, asked)
		})
	}
}

// TestTradePagerLost: a cursor older than the day Bitstamp serves pages
// on from what is served, saying the trades between are lost.
func TestTradePagerLost(t *testing.T) {
	// One trade every 20 s: a day's answer stays small enough for a
	// loaded machine under -race (at 0.5/s its 43,200 trades timed out).
	s := newServer(t, replay.Options{TradeRate: 0.05})
	c := newClient(t, s, "bitstamp", clientOpts{})
	old := exchange.TradeCursor{ID: "1", Time: time.Now().Add(-48 * time.Hour)}
	pg, err := c.Connector.(exchange.TradePager).TradesAfter(testCtx(t), btcUSDT, old, 0)
	require.NoError(t, err)
	require.True(t, pg.Lost)
	require.NotEmpty(t, pg.Trades)
	require.True(t, pg.Trades[0].Time.After(time.Now().Add(-25*time.Hour)))
}
