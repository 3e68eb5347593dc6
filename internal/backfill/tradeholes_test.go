package backfill_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/binance"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
)

// lostPager says the exchange no longer serves what follows the cursor.
type lostPager struct{ *binance.Connector }

func (l lostPager) TradesAfter(ctx context.Context, s market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	pg, err := l.Connector.TradesAfter(ctx, s, after, limit)
	if len(pg.Trades) > 10 {
		pg.Trades = pg.Trades[10:]
	}
	pg.Lost = true
	return pg, err
}

// TestFillTradeHoles: holes recorded by trade capture are filled by
// paging from the trade before to the trade after, at low priority, and
// marked filled; where the exchange serves only its latest trades, or no
// longer serves them, they are marked unfillable with why. On plain
// PostgreSQL and on TimescaleDB (the cursor index and the holes table).
func TestFillTradeHoles(t *testing.T) {
	for _, be := range pgtest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			e := newEnv(t, day("2024-06-01T00:00:00Z"))
			ctx := context.Background()
			dbURL := be.MigratedDB(t)
			st, err := store.Open(ctx, dbURL, store.Options{})
			require.NoError(t, err)
			t.Cleanup(st.Close)
			db := pgtest.Pool(t, dbURL)
			all, err := e.conn.Trades(ctx, btc, day("2024-05-31T10:00:00Z"), 1000)
			require.NoError(t, err)
			require.Greater(t, len(all), 300)
			// Capture kept trades 0..9 and 200..: a hole between 9 and 200,
			// and two more (made up) further on, for the unfillable cases.
			_, err = st.Trades(ctx, append(append([]market.Trade{}, all[:10]...), all[200:]...))
			require.NoError(t, err)
			hole := ops.TradeHole{Exchange: "binance", Symbol: "BTC/USDT", From: all[9].Time, FromID: all[9].ID,
				To: all[200].Time, ToID: all[200].ID, Reason: ops.HoleOutage, Missed: 190}
			latestOnly, lost := hole, hole
			latestOnly.From, latestOnly.FromID, latestOnly.To, latestOnly.ToID = all[250].Time, all[250].ID, all[260].Time, all[260].ID
			lost.From, lost.FromID, lost.To, lost.ToID = all[300].Time, all[300].ID, all[400].Time, all[400].ID
			require.NoError(t, st.RecordTradeHoles(ctx, []ops.TradeHole{hole, latestOnly, lost}))
			holes := func(from market.Trade) []ops.TradeHole {
				hs, err := st.TradeHoles(ctx, store.HoleQuery{Exchange: "binance", Symbols: []string{"BTC/USDT"}})
				require.NoError(t, err)
				for _, h := range hs {
					if h.FromID == from.ID {
						return []ops.TradeHole{h}
					}
				}
				t.Fatalf("no hole from %s", from.ID)
				return nil
			}
			at, ids, ok, err := st.LatestTrades(ctx, "binance", "BTC/USDT", all[100].Time)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, all[9].Time, at, "the newest stored trade before a time")
			require.Equal(t, []string{all[9].ID}, ids)

			e.req.mu.Lock()
			clear(e.req.prio) // the set-up's own request
			e.req.mu.Unlock()
			b := e.backfiller(t, nil, func(o *backfill.Options) { o.Sink = st; o.TradePageSize = 50 })
			sum, err := b.FillTradeHoles(ctx, st, holes(all[9]))
			require.NoError(t, err)
			require.Equal(t, backfill.HoleSummary{Holes: 1, Filled: 1, Trades: 190, Requests: 4}, sum)
			var n int
			require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM market.trades WHERE symbol = 'BTC/USDT'`).Scan(&n))
			require.Equal(t, len(all), n, "every trade of the span, once")
			h := holes(all[9])[0]
			require.Equal(t, ops.HoleFilled, h.Status)
			require.Equal(t, int64(190), h.FilledRows)
			require.Positive(t, e.req.prio[priority.Low])
			require.Zero(t, e.req.prio[priority.High]+e.req.prio[priority.Medium]+e.req.prio[priority.Critical], "a backfill asks at low priority")

			sum, err = b.FillTradeHoles(ctx, st, holes(all[9]))
			require.NoError(t, err)
			require.Zero(t, sum.Holes, "a filled hole is not filled again")

			caps := e.conn.Capabilities()
			hb := e.backfiller(t, holey{Connector: e.conn, caps: &caps}, func(o *backfill.Options) { o.Sink = st })
			sum, err = hb.FillTradeHoles(ctx, st, holes(all[250]))
			require.NoError(t, err)
			require.Equal(t, 1, sum.Unfillable)
			require.Zero(t, sum.Requests)
			require.Equal(t, "binance serves only its latest trades", holes(all[250])[0].Detail)

			lb := e.backfiller(t, lostPager{e.conn}, func(o *backfill.Options) { o.Sink = st; o.TradePageSize = 1000 })
			sum, err = lb.FillTradeHoles(ctx, st, holes(all[300]))
			require.NoError(t, err)
			require.Equal(t, 1, sum.Unfillable)
			require.Equal(t, 89, sum.Trades, "what is still served is kept: 311..399")
			require.Contains(t, holes(all[300])[0].Detail, "no longer serves all of them")

			var out bytes.Buffer
			all3, err := st.TradeHoles(ctx, store.HoleQuery{Exchange: "binance"})
			require.NoError(t, err)
			require.NoError(t, backfill.RenderTradeHoles(&out, all3))
			require.Contains(t, out.String(), "EXCHANGE  SYMBOL    FROM")
			require.Contains(t, out.String(), "filled")
			require.Contains(t, out.String(), "unfillable")
		})
	}
}
