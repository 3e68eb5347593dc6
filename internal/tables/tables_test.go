package tables_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/tables"
)

// Every table is listed once, under its name.
func TestAll(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range tables.All {
		require.False(t, seen[d.Name()], d.Name())
		seen[d.Name()] = true
		got, ok := tables.Lookup(d.Name())
		require.True(t, ok)
		require.Equal(t, d, got)
		require.NotNil(t, tables.NewRows(d.Name()))
	}
	require.Len(t, seen, 9)
	require.True(t, tables.Candles.MarketData())
	require.Equal(t, "symbols", tables.Symbols.Name())
	require.False(t, tables.JobRuns.MarketData())
	_, ok := tables.Lookup("futures")
	require.False(t, ok)
	require.Nil(t, tables.NewRows("futures"))
}

func TestRowsKeepTheirTable(t *testing.T) {
	cs := []market.Candle{{Exchange: "a"}, {Exchange: "b"}}
	r := tables.Candles.Rows(cs)
	require.Equal(t, tables.Descriptor(tables.Candles), r.Table())
	require.Equal(t, 2, r.Len())
	got, ok := tables.Candles.Of(r)
	require.True(t, ok)
	require.Equal(t, cs, got)
	_, ok = tables.Trades.Of(r)
	require.False(t, ok)

	// Read back from the spool as any, a batch is its table's again.
	back, err := tables.Wrap("candles", cs)
	require.NoError(t, err)
	require.Equal(t, r, back)
	_, err = tables.Wrap("trades", cs)
	require.ErrorIs(t, err, tables.ErrWrongRows)
	_, err = tables.Wrap("futures", cs)
	require.ErrorIs(t, err, tables.ErrWrongRows)

	// Append copies when it starts, as append does: the caller's rows stay.
	var pend tables.Rows
	pend = pend.Append(tables.Candles.Rows(cs[:1]))
	pend = pend.Append(tables.Candles.Rows(cs[1:]))
	got, _ = tables.Candles.Of(pend)
	require.Equal(t, cs, got)
	require.Equal(t, "a", cs[0].Exchange)
	got[0].Exchange = "x"
	require.Equal(t, "a", cs[0].Exchange, "a copy")
	require.Equal(t, 1, pend.Slice(1, 2).Len())
	require.Panics(t, func() { pend.Append(tables.Trades.Rows([]market.Trade{{}})) })
}

// Ops rows get their IDs (and a rejected row its time) once, in place.
func TestAssignIDs(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	kept := uuid.Must(uuid.NewV7())
	rows := []ops.RejectedRow{{}, {ID: kept, Time: now.Add(-time.Hour)}}
	tables.RejectedRows.Rows(rows).AssignIDs(now)
	require.NotEqual(t, uuid.Nil, rows[0].ID)
	require.Equal(t, now, rows[0].Time)
	require.Equal(t, kept, rows[1].ID)
	require.Equal(t, now.Add(-time.Hour), rows[1].Time)
	first := rows[0].ID
	tables.RejectedRows.Rows(rows).AssignIDs(now)
	require.Equal(t, first, rows[0].ID, "assigned once")

	jobs := []ops.JobRun{{}}
	tables.JobRuns.Rows(jobs).AssignIDs(now)
	require.NotEqual(t, uuid.Nil, jobs[0].ID)
	tables.Candles.Rows([]market.Candle{{}}).AssignIDs(now) // market rows have none
}
