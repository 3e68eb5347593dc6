package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

func TestReadCandles(t *testing.T) {
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	m := func(i int) time.Time { return at.Add(time.Duration(i) * time.Minute) }
	ks := func(is ...int) []market.Candle {
		out := make([]market.Candle, 0, len(is))
		for _, i := range is {
			out = append(out, market.Candle{Timeframe: market.TF1m, Time: m(i), Close: market.MustDecimal("1")})
		}
		return out
	}
	hole := func(from, to int) ops.Coverage { return ops.Coverage{AskedFrom: m(from), AskedTo: m(to)} }
	asked := m(10).Add(20 * time.Second) // minute 10 is running
	for _, tc := range []struct {
		name         string
		got          []market.Candle
		since, next  time.Time
		limit        int
		wantNext     time.Time
		wantHoles    []ops.Coverage
		wantMore     bool
		wantClosedTo int // rows with index below are closed
	}{
		{name: "first fetch: the latest few, the running one open", got: ks(8, 9, 10), limit: 3,
			wantNext: m(10), wantClosedTo: 2},
		{name: "from the last closed candle: the running one open", got: ks(5, 6, 7, 8, 9, 10), since: m(5), next: m(6), limit: 6,
			wantNext: m(10), wantClosedTo: 5},
		{name: "an exchange that leaves since out", got: ks(6, 7, 8, 9, 10), since: m(5), next: m(6), limit: 6,
			wantNext: m(10), wantClosedTo: 4},
		{name: "periods skipped between candles are holes", got: ks(5, 6, 8, 9, 10), since: m(5), next: m(6), limit: 6,
			wantNext: m(10), wantHoles: []ops.Coverage{hole(7, 8)}, wantClosedTo: 4},
		{name: "what the exchange no longer serves is a hole", got: ks(8, 9, 10), since: m(1), next: m(2), limit: 10,
			wantNext: m(10), wantHoles: []ops.Coverage{hole(2, 8)}, wantClosedTo: 2},
		{name: "the latest ended period may still come", got: ks(5, 6, 7, 8), since: m(5), next: m(6), limit: 6,
			wantNext: m(9), wantClosedTo: 4},
		{name: "a full page ending before the running period: more", got: ks(1, 2, 3, 4), since: m(1), next: m(2), limit: 4,
			wantNext: m(5), wantMore: true, wantClosedTo: 4},
		{name: "an empty page of ended periods is a hole", since: m(1), next: m(2), limit: 4,
			wantNext: m(5), wantHoles: []ops.Coverage{hole(2, 5)}, wantMore: true},
		{name: "an empty page up to the running period says nothing", since: m(5), next: m(6), limit: 6,
			wantNext: m(6)},
		{name: "a repeated period: the exchange's last word", got: append(ks(5, 6, 6, 7), ks(10)...), since: m(5), next: m(6), limit: 6,
			wantNext: m(10), wantHoles: []ops.Coverage{hole(8, 10)}, wantClosedTo: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := readCandles(tc.got, tc.since, tc.next, tc.limit, asked, time.Minute)
			require.Equal(t, tc.wantNext, a.next)
			require.Equal(t, tc.wantHoles, a.holes)
			require.Equal(t, tc.wantMore, a.more)
			for i, c := range a.rows {
				require.Equal(t, i < tc.wantClosedTo, c.Closed, "row %d (%s)", i, c.Time.Format("15:04"))
				if i > 0 {
					require.True(t, c.Time.After(a.rows[i-1].Time), "sorted, one per period")
				}
			}
		})
	}
}
