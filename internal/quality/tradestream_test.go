package quality

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

// TestTradeHoleLowersCompleteness: the issue's sampling daemon stored 3,000
// of 14,485 trades and its reports read completeness 1.0. A batch that
// follows a hole now counts the missed trades: 3 kept after 9 missed is
// 3/12 complete, the report fails, and the issue names the hole.
func TestTradeHoleLowersCompleteness(t *testing.T) {
	batch := []market.Trade{tr(0, "10", nil), tr(1, "11", nil), tr(2, "12", nil)}
	c := newChecker(t)
	plain := c.CheckTrades(batch, now, 0).Reports[0]
	require.Equal(t, 1.0, plain.Completeness, "without a hole")

	gap := TradeGap{Exchange: "okx", Symbol: sym, Missed: 9, Detail: "no_overlap: trades 1..9 missed"}
	res := c.CheckTradeStream(batch, []TradeGap{gap}, now, 0)
	require.Len(t, res.Accepted, 3, "the trades kept are still accepted")
	rep := res.Reports[0]
	require.InDelta(t, 3.0/12, rep.Completeness, 1e-9)
	require.False(t, rep.Passed)
	require.Less(t, rep.Score, plain.Score)
	require.Contains(t, rep.Issues, Issue{Check: CheckTradeHole, Metric: Completeness, Count: 9, Example: gap.Detail})

	// A gap of another symbol leaves this one alone; an unknown count is one.
	other := c.CheckTradeStream(batch, []TradeGap{{Exchange: "okx", Symbol: "ETH/USDT", Missed: 50}}, now, 0).Reports[0]
	require.Equal(t, 1.0, other.Completeness)
	unknown := c.CheckTradeStream(batch, []TradeGap{{Exchange: "okx", Symbol: sym}}, now, 0).Reports[0]
	require.InDelta(t, 3.0/4, unknown.Completeness, 1e-9)
}
