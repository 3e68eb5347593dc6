package wire

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

func TestRows(t *testing.T) {
	double := func(s string) (string, error) {
		if s == "" {
			return "", ErrMissing
		}
		return s + s, nil
	}
	got, err := Rows("row", []string{"a", "b"}, double)
	require.NoError(t, err)
	require.Equal(t, []string{"aa", "bb"}, got)
	_, err = Rows("trade", []string{"a", ""}, double)
	require.ErrorIs(t, err, ErrMissing)
	require.EqualError(t, err, "trade 1: missing field")
}

func TestUnixTime(t *testing.T) {
	for unit, want := range map[time.Duration]time.Time{
		time.Second:      time.Unix(1710327959, 0),
		time.Millisecond: time.Unix(1710327, 959000000),
		time.Microsecond: time.Unix(1710, 327959000),
		time.Nanosecond:  time.Unix(1, 710327959),
	} {
		got, err := UnixTime("t", "1710327959", unit)
		require.NoError(t, err, unit)
		require.True(t, want.Equal(got), unit)
		require.Equal(t, time.UTC, got.Location())
	}
	for _, bad := range []Text{"", "0", "-5", "1.5", "x"} {
		_, err := UnixTime("t", bad, time.Second)
		require.ErrorIs(t, err, ErrShape, bad)
	}
}

func TestFieldsRowHelpers(t *testing.T) {
	var f Fields
	require.Equal(t, "7", f.ID("id", "7"))
	require.Equal(t, int64(1700000000000), f.Time("ts", "1700000000000", time.Millisecond).UnixMilli())
	require.Equal(t, market.SideSell, f.Side("side", "s", "b", "s"))
	require.Equal(t, market.SideBuy, f.Side("side", "b", "b", "s"))
	require.NoError(t, f.Err)

	for _, tc := range []struct {
		name string
		use  func(*Fields)
		want error
	}{
		{"no id", func(f *Fields) { f.ID("id", "") }, ErrMissing},
		{"no time", func(f *Fields) { f.Time("ts", "", time.Second) }, ErrShape},
		{"other side", func(f *Fields) { f.Side("side", "x", "b", "s") }, ErrShape},
	} {
		var f Fields
		tc.use(&f)
		require.ErrorIs(t, f.Err, tc.want, tc.name)
		f.Err = errors.New("first")
		require.Equal(t, market.SideUnknown, f.Side("side", "b", "b", "s"), "nothing is read after the first error")
	}
}

func TestCandleLayout(t *testing.T) {
	// Coinbase's order: [time s, low, high, open, close, volume], newest first.
	l := CandleLayout{Unit: time.Second, Low: 1, High: 2, Open: 3, Close: 4, Volume: 5, NewestFirst: true}
	cs, err := l.Parse("x", [][]Text{{"120", "1", "4", "2", "3", "10"}, {"60", "5", "8", "6", "7", "20"}})
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, market.Candle{
		Exchange: "x", Time: time.Unix(60, 0).UTC(),
		Open: market.MustDecimal("6"), High: market.MustDecimal("8"), Low: market.MustDecimal("5"),
		Close: market.MustDecimal("7"), Volume: market.MustDecimal("20"),
	}, cs[0], "oldest first, each value from its column")

	_, err = l.Parse("x", [][]Text{{"60", "1", "2", "3", "4"}})
	require.ErrorIs(t, err, ErrShape)
	require.ErrorContains(t, err, "candle 0: want at least 6 values, got 5")
	_, err = l.Parse("x", [][]Text{{"60", "1", "2", "3", "4", "5"}, {"120", "1", "", "3", "4", "5"}})
	require.ErrorIs(t, err, ErrMissing)
	require.ErrorContains(t, err, "candle 1: high")

	// Ties keep the exchange's order reversed only when it sent newest first.
	tie := [][]Text{{"60", "1", "1", "1", "1", "1"}, {"60", "2", "2", "2", "2", "2"}}
	cs, err = l.Parse("x", tie)
	require.NoError(t, err)
	require.Equal(t, "2", cs[0].Open.String())
	l.NewestFirst = false
	cs, err = l.Parse("x", tie)
	require.NoError(t, err)
	require.Equal(t, "1", cs[0].Open.String())
}

func TestSortTrades(t *testing.T) {
	at := time.Unix(100, 0)
	ts := []market.Trade{{ID: "3", Time: at.Add(time.Second)}, {ID: "2", Time: at}, {ID: "1", Time: at}}
	SortTrades(ts, true)
	require.Equal(t, []string{"1", "2", "3"}, []string{ts[0].ID, ts[1].ID, ts[2].ID})
	ts = []market.Trade{{ID: "a", Time: at}, {ID: "b", Time: at}}
	SortTrades(ts, false)
	require.Equal(t, "a", ts[0].ID, "oldest-first answers keep their order within an instant")
}

func TestTradeAndCandleRows(t *testing.T) {
	at := time.Unix(100, 0)
	// Rows of [id, second], newest first: ids 1 and 2 share a second.
	trade := func(r [2]int64) (market.Trade, error) {
		if r[1] < 0 {
			return market.Trade{}, ErrMissing
		}
		return market.Trade{ID: strconv.FormatInt(r[0], 10), Time: at.Add(time.Duration(r[1]) * time.Second)}, nil
	}
	ts, err := TradeRows([][2]int64{{3, 2}, {2, 1}, {1, 1}}, true, trade)
	require.NoError(t, err)
	require.Equal(t, []string{"1", "2", "3"}, []string{ts[0].ID, ts[1].ID, ts[2].ID})
	_, err = TradeRows([][2]int64{{1, 1}, {2, -1}}, false, trade)
	require.EqualError(t, err, "trade 1: missing field")

	candle := func(sec int64) (market.Candle, error) {
		if sec < 0 {
			return market.Candle{}, ErrMissing
		}
		return market.Candle{Time: at.Add(time.Duration(sec) * time.Second)}, nil
	}
	cs, err := CandleRows([]int64{3, 2}, true, candle)
	require.NoError(t, err)
	require.True(t, cs[0].Time.Before(cs[1].Time), "oldest first")
	_, err = CandleRows([]int64{-1}, false, candle)
	require.EqualError(t, err, "candle 0: missing field")
}

func TestAnswerTime(t *testing.T) {
	ts, err := AnswerTime([]market.Ticker{{}, {}}, "ts", "1710328245391")
	require.NoError(t, err)
	require.Equal(t, int64(1710328245391), ts[1].Time.UnixMilli())
	ts, err = AnswerTime([]market.Ticker{{}}, "ts", "")
	require.NoError(t, err)
	require.True(t, ts[0].Time.IsZero(), "no answer time, no ticker time")
	_, err = AnswerTime([]market.Ticker{{}}, "ts", "soon")
	require.ErrorIs(t, err, ErrShape)
}

func TestSafeTicker(t *testing.T) {
	d := market.MustDecimal
	tk := market.Ticker{Last: d("5"), Bid: d("0"), Ask: d("6"), Open: d("0.0"), High: d("7"), Low: d("0")}
	SafeTicker(&tk)
	require.Equal(t, market.Ticker{Last: d("5"), Close: d("5"), Ask: d("6"), High: d("7")}, tk)
}

func TestTickerRows(t *testing.T) {
	type row struct{ ID, Last string }
	resolve := func(id string) (market.Symbol, bool) { return market.Symbol(id + "/USD"), id != "skip" }
	ticker := func(r *row, s market.Symbol) (market.Ticker, error) {
		last, err := OptDecimal("last", Text(r.Last))
		return market.Ticker{Symbol: s, ExchangeSymbol: r.ID, Last: last}, err
	}
	var out []market.Ticker
	keep := TickerRows(&out, func(r *row) string { return r.ID }, resolve, ticker)
	require.NoError(t, keep(0, &row{"BTC", "1"}))
	require.NoError(t, keep(1, &row{"skip", "x"}), "an unknown row is not even converted")
	require.Len(t, out, 1)
	require.Equal(t, market.Symbol("BTC/USD"), out[0].Symbol)
	require.ErrorIs(t, keep(2, &row{"BTC", "2"}), ErrDuplicate)
	err := keep(3, &row{"ETH", "x"})
	require.ErrorIs(t, err, market.ErrInvalidDecimal)
	require.ErrorContains(t, err, "ticker ETH: last")
}

func TestSides(t *testing.T) {
	var b market.OrderBook
	require.NoError(t, Sides(&b, "size", [][]Text{{"2", "1"}, {"1", "1"}}, [][]Text{{"3", "1"}}, 1))
	require.Len(t, b.Bids, 1, "cut to depth")
	require.Len(t, b.Asks, 1)
	err := Sides(&b, "size", nil, [][]Text{{"3"}}, 0)
	require.ErrorIs(t, err, ErrShape)
	require.ErrorContains(t, err, "asks[0]")
}

func TestSpotMarketAndCurrencies(t *testing.T) {
	cur := Currencies{"UST": "USTC"}
	require.Equal(t, "USTC", cur.Unified("ust"))
	require.Equal(t, "BCH", cur.Unified("BCC"), "CCXT's common renames apply too")
	require.Equal(t, "UST", cur.Native("USTC"))
	require.Equal(t, "BTC", cur.Native("BTC"))

	m, err := SpotMarket("x", "ustusd", "ust", "usd", cur, true)
	require.NoError(t, err)
	require.Equal(t, market.Market{Exchange: "x", ID: "ustusd", Symbol: "USTC/USD", Base: "USTC", Quote: "USD",
		BaseID: "ust", QuoteID: "usd", Active: true, Type: "spot"}, m)
	_, err = SpotMarket("x", "", "BTC", "USD", nil, true)
	require.ErrorIs(t, err, ErrMissing)
	_, err = SpotMarket("x", "b u", "B U", "USD", nil, true)
	require.ErrorIs(t, err, market.ErrInvalidSymbol)
}
