package store

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/tables"
)

// Every table has its write, into the store's table of the same name.
func TestEveryTableIsWritten(t *testing.T) {
	names := []pgx.Identifier{symbols.name, tickers.name, orderBooks.name, candles.name, trades.name,
		qualityReports.name, rejectedRows.name, jobRuns.name, requestMetrics.name}
	require.Len(t, tables.All, len(names))
	require.Len(t, writes, len(tables.All))
	for i, d := range tables.All {
		require.Contains(t, writes, d, d.Name())
		require.Equal(t, names[i][1], d.Name())
		require.Equal(t, names[i][0] == "market", d.MarketData(), d.Name())
	}
}
