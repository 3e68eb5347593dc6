package backfill

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func candles(mins ...int) []market.Candle {
	out := make([]market.Candle, len(mins))
	for i, m := range mins {
		out[i] = market.Candle{Exchange: "x", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: at(m)}
	}
	return out
}

func times(cs []market.Candle) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = int(c.Time.Sub(t0) / time.Minute)
	}
	return out
}

func TestCandlePage(t *testing.T) {
	past := at(100_000)
	tests := []struct {
		name     string
		got      []market.Candle
		cursor   int
		to       int
		limit    int
		asked    time.Time
		rows     []int
		open     []int // rows stored as not closed
		next     int
		stop     bool
		coverage []Coverage
		err      error
	}{
		{name: "full page", got: candles(0, 1, 2, 3), cursor: 0, to: 100, limit: 4, asked: past,
			rows: []int{0, 1, 2, 3}, next: 4, coverage: []Coverage{{AskedFrom: at(0), AskedTo: at(4), Rows: 4, First: at(0), Last: at(3)}}},
		{name: "empty page moves over the window", cursor: 10, to: 100, limit: 4, asked: past,
			rows: []int{}, next: 14, coverage: []Coverage{{AskedFrom: at(10), AskedTo: at(14)}}},
		{name: "empty page stops at to", cursor: 98, to: 100, limit: 4, asked: past,
			rows: []int{}, next: 100, coverage: []Coverage{{AskedFrom: at(98), AskedTo: at(100)}}},
		{name: "empty page claims nothing about unfinished periods", cursor: 10, to: 100, limit: 50, asked: at(20).Add(30 * time.Second),
			rows: []int{}, next: 20, stop: true, coverage: []Coverage{{AskedFrom: at(10), AskedTo: at(20)}}},
		{name: "empty page at the running period", cursor: 20, to: 100, limit: 50, asked: at(20).Add(30 * time.Second),
			rows: []int{}, next: 20, stop: true},
		{name: "first candles later than asked: the start is empty", got: candles(7, 8), cursor: 5, to: 100, limit: 2, asked: past,
			rows: []int{7, 8}, next: 9, coverage: []Coverage{{AskedFrom: at(5), AskedTo: at(9), Rows: 2, First: at(7), Last: at(8)}}},
		{name: "holes inside a page", got: candles(0, 1, 4, 5, 9), cursor: 0, to: 100, limit: 5, asked: past,
			rows: []int{0, 1, 4, 5, 9}, next: 10, coverage: []Coverage{{AskedFrom: at(0), AskedTo: at(10), Rows: 5, First: at(0), Last: at(9)}}},
		{name: "short page speaks for its window", got: candles(0, 1), cursor: 0, to: 100, limit: 5, asked: past,
			rows: []int{0, 1}, next: 2, coverage: []Coverage{{AskedFrom: at(0), AskedTo: at(5), Rows: 2, First: at(0), Last: at(1)}}},
		{name: "candles at or after to dropped", got: candles(8, 9, 10, 11), cursor: 8, to: 10, limit: 4, asked: past,
			rows: []int{8, 9}, next: 10, coverage: []Coverage{{AskedFrom: at(8), AskedTo: at(10), Rows: 2, First: at(8), Last: at(9)}}},
		{name: "only candles after to", got: candles(50), cursor: 8, to: 10, limit: 2, asked: past,
			rows: []int{}, next: 10, coverage: []Coverage{{AskedFrom: at(8), AskedTo: at(10)}}},
		{name: "older candles dropped", got: candles(3, 4, 5), cursor: 4, to: 100, limit: 3, asked: past,
			rows: []int{4, 5}, next: 6, coverage: []Coverage{{AskedFrom: at(4), AskedTo: at(7), Rows: 2, First: at(4), Last: at(5)}}},
		{name: "repeated period keeps the last", got: candles(1, 1, 2), cursor: 1, to: 100, limit: 3, asked: past,
			rows: []int{1, 2}, next: 3, coverage: []Coverage{{AskedFrom: at(1), AskedTo: at(4), Rows: 2, First: at(1), Last: at(2)}}},
		{name: "open candle stored open, cursor stays on it", got: candles(18, 19, 20), cursor: 18, to: 100, limit: 10, asked: at(20).Add(30 * time.Second),
			rows: []int{18, 19, 20}, open: []int{20}, next: 20, stop: true,
			coverage: []Coverage{{AskedFrom: at(18), AskedTo: at(21), Rows: 3, First: at(18), Last: at(20)}}},
		{name: "no progress", got: candles(1, 2), cursor: 5, to: 100, limit: 2, asked: past, err: ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, err := candlePage(tt.got, at(tt.cursor), at(tt.to), time.Minute, tt.limit, tt.asked)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.rows, times(pg.rows))
			var open []int
			for _, c := range pg.rows {
				if !c.Closed {
					open = append(open, int(c.Time.Sub(t0)/time.Minute))
				}
			}
			require.Equal(t, tt.open, open)
			require.Equal(t, at(tt.next), pg.next)
			require.Equal(t, tt.stop, pg.stop)
			require.Equal(t, tt.coverage, pg.coverage)
			require.Equal(t, len(tt.got), pg.returned)
		})
	}
}

func trade(id string, ms int) market.Trade {
	return market.Trade{ID: id, Time: t0.Add(time.Duration(ms) * time.Millisecond)}
}

func TestTradePage(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ids := func(ts []market.Trade) []string {
		out := []string{}
		for _, tr := range ts {
			out = append(out, tr.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		got    []market.Trade
		cursor int
		seen   []string
		to     int
		limit  int
		rows   []string
		next   time.Time
		stop   bool
	}{
		{name: "page continues at the last instant", got: []market.Trade{trade("a", 0), trade("b", 5), trade("c", 9)},
			cursor: 0, to: 1000, limit: 3, rows: []string{"a", "b", "c"}, next: ms(9)},
		{name: "trades seen at the cursor are dropped", got: []market.Trade{trade("c", 9), trade("d", 9), trade("e", 12)},
			cursor: 9, seen: []string{"c"}, to: 1000, limit: 3, rows: []string{"d", "e"}, next: ms(12)},
		{name: "nothing new: the exchange has nothing more until asked", got: []market.Trade{trade("e", 12)},
			cursor: 12, seen: []string{"e"}, to: 1000, limit: 3, rows: []string{}, next: ms(500), stop: true},
		{name: "empty page up to to", cursor: 12, to: 100, limit: 3, rows: []string{}, next: ms(100)},
		{name: "trades at or after to end the range", got: []market.Trade{trade("f", 90), trade("g", 100)},
			cursor: 50, to: 100, limit: 3, rows: []string{"f"}, next: ms(100)},
		{name: "a full page in one instant, all seen, steps over it", got: []market.Trade{trade("h", 7), trade("i", 7)},
			cursor: 7, seen: []string{"h", "i"}, to: 1000, limit: 2, rows: []string{}, next: ms(8)},
		{name: "repeated ids stored once", got: []market.Trade{trade("j", 1), trade("j", 1), trade("k", 2)},
			cursor: 0, to: 1000, limit: 3, rows: []string{"j", "k"}, next: ms(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, id := range tt.seen {
				seen[id] = true
			}
			pg := tradePage(tt.got, ms(tt.cursor), ms(tt.to), tt.limit, ms(500), seen)
			require.Equal(t, tt.rows, ids(pg.rows))
			require.Equal(t, tt.next, pg.next)
			require.Equal(t, tt.stop, pg.stop)
			require.Len(t, pg.coverage, 1)
			require.Equal(t, len(tt.rows), pg.coverage[0].Rows)
		})
	}
}

func TestSplitGap(t *testing.T) {
	g := Gap{Exchange: "x", Symbol: "BTC/USDT", Timeframe: market.TF1m, From: at(10), To: at(20), Missing: 10}
	part := func(from, to int, noData bool) Gap {
		p := g
		p.From, p.To, p.Missing, p.NoData = at(from), at(to), to-from, noData
		return p
	}
	tests := []struct {
		empty []span
		want  []Gap
	}{
		{nil, []Gap{g}},
		{[]span{{at(0), at(5)}, {at(25), at(30)}}, []Gap{g}},
		{[]span{{at(0), at(30)}}, []Gap{part(10, 20, true)}},
		{[]span{{at(12), at(14)}}, []Gap{part(10, 12, false), part(12, 14, true), part(14, 20, false)}},
		{[]span{{at(5), at(12)}, {at(18), at(25)}}, []Gap{part(10, 12, true), part(12, 18, false), part(18, 20, true)}},
		{mergeSpans([]span{{at(10), at(13)}, {at(13), at(15)}, {at(14), at(16)}, {at(19), at(19)}}),
			[]Gap{part(10, 16, true), part(16, 20, false)}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			require.Equal(t, tt.want, splitGap(g, tt.empty))
		})
	}
}

func TestAlignUp(t *testing.T) {
	require.Equal(t, at(1), alignUp(at(0).Add(time.Second), time.Minute))
	require.Equal(t, at(0), alignUp(at(0), time.Minute))
	require.Equal(t, time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC), alignUp(at(1), 24*time.Hour))
	require.Equal(t, time.Date(2024, 3, 1, 4, 0, 0, 0, time.UTC), alignUp(at(1), 4*time.Hour))
}
