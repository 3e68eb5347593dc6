package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

func TestLatestTrades(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, _, ok, err := s.LatestTrades(ctx, "binance", "BTC/USDT", time.Time{})
		require.NoError(t, err)
		require.False(t, ok, "nothing stored")
		tr := func(sym, id string, at time.Time) market.Trade {
			return market.Trade{Exchange: "binance", Symbol: market.Symbol(sym), ID: id, Time: at, Price: d("1"), Amount: d("1")}
		}
		_, err = s.Trades(ctx, []market.Trade{
			tr("BTC/USDT", "1", t0), tr("BTC/USDT", "2", t0.Add(time.Second)),
			tr("BTC/USDT", "10", t0.Add(2*time.Second)), tr("BTC/USDT", "9", t0.Add(2*time.Second)),
			tr("ETH/USDT", "99", t0.Add(time.Hour)),
		})
		require.NoError(t, err)
		at, ids, ok, err := s.LatestTrades(ctx, "binance", "BTC/USDT", time.Time{})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, t0.Add(2*time.Second), at)
		require.ElementsMatch(t, []string{"9", "10"}, ids, "every trade of the newest instant")
		at, ids, ok, err = s.LatestTrades(ctx, "binance", "BTC/USDT", t0.Add(2*time.Second))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, t0.Add(time.Second), at, "before a time")
		require.Equal(t, []string{"2"}, ids)
	})
}

func TestTradeHoles(t *testing.T) {
	onBackends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		h := ops.TradeHole{Exchange: "kucoin", Symbol: "BTC/USDT", From: t0, FromID: "100", To: t0.Add(time.Minute), ToID: "900",
			Reason: ops.HoleNoOverlap, Missed: 799, Detail: "polled every 5m0s"}
		later := h
		later.From, later.FromID, later.To, later.ToID, later.Reason, later.Missed = t0.Add(time.Hour), "5000", t0.Add(2*time.Hour), "", ops.HoleOutage, 0
		other := h
		other.Symbol = "ETH/USDT"
		require.NoError(t, s.RecordTradeHoles(ctx, []ops.TradeHole{h, later, other}))
		require.NoError(t, s.RecordTradeHoles(ctx, []ops.TradeHole{h}), "recording again")
		require.Equal(t, 3, count(t, s, `SELECT count(*) FROM ops.trade_holes`))

		got, err := s.TradeHoles(ctx, store.HoleQuery{Exchange: "kucoin", Symbols: []string{"BTC/USDT"}})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, t0, got[0].From)
		require.Equal(t, "900", got[0].ToID)
		require.Equal(t, int64(799), got[0].Missed)
		require.Equal(t, ops.HoleOpen, got[0].Status)
		require.Equal(t, "", got[1].ToID)
		require.Zero(t, got[1].Missed)

		got, err = s.TradeHoles(ctx, store.HoleQuery{Exchange: "kucoin", From: t0.Add(90 * time.Minute), To: t0.Add(3 * time.Hour)})
		require.NoError(t, err)
		require.Len(t, got, 1, "overlapping the span")
		require.Equal(t, ops.HoleOutage, got[0].Reason)

		require.NoError(t, s.SetTradeHoleStatus(ctx, got[0].ID, ops.HoleUnfillable, 0, "kucoin serves only its latest trades"))
		got, err = s.TradeHoles(ctx, store.HoleQuery{Exchange: "kucoin", Status: ops.HoleUnfillable})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.False(t, got[0].FilledAt.IsZero())
		require.Equal(t, "kucoin serves only its latest trades", got[0].Detail)
		require.ErrorIs(t, s.SetTradeHoleStatus(ctx, 12345, ops.HoleFilled, 1, ""), store.ErrNoHole)
		_, err = s.Pool().Exec(ctx, `INSERT INTO ops.trade_holes (exchange, symbol, from_ts, from_id, to_ts, reason) VALUES ('x', 'A/B', now(), '1', now(), 'because')`)
		require.Error(t, err, "reasons are a closed set")
	})
}
