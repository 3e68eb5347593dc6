package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
)

// quality --exchange --symbol -o table|csv|json.
func TestQualityFiltersAndFormats(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	_, err := conn.Exec(context.Background(), `INSERT INTO ops.quality_reports (id, ts, exchange, symbol, data_type, rows_total, rows_rejected,
		completeness, accuracy, consistency, timeliness, validity, uniqueness, score, passed) VALUES
		(gen_random_uuid(), now(), 'binance', 'BTC/USDT', 'ticker', 10, 1, 1, 1, 1, 0.5, 1, 1, 0.9, false),
		(gen_random_uuid(), now(), 'binance', 'ETH/USDT', 'ticker', 10, 0, 1, 1, 1, 1, 1, 1, 1, true),
		(gen_random_uuid(), now(), 'kraken', 'BTC/USDT', 'trades', 5, 0, 1, 1, 1, 1, 1, 1, 1, true)`)
	require.NoError(t, err)
	db := []string{"quality", "--database-url", url}

	code, out, stderr := runCLI(t, nil, append(db, "--exchange", "binance", "--symbol", "btc/usdt")...)
	require.Equal(t, ExitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^binance\s+BTC/USDT\s+ticker\s+1\s+0\.900\s+0\.900\s+1\s+10\s+1\s+0\s`, lines[1])

	code, out, stderr = runCLI(t, nil, append(db, "--symbol", "BTC/USDT", "-o", "csv")...)
	require.Equal(t, ExitOK, code, stderr)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3, out)
	require.Equal(t, []string{"exchange", "symbol", "data_type"}, recs[0][:3])
	require.Equal(t, []string{"binance", "BTC/USDT", "ticker", "1", "0.9", "0.9", "1", "10", "1", "0"}, recs[1][:10])
	require.Equal(t, []string{"kraken", "BTC/USDT", "trades"}, recs[2][:3])

	code, out, stderr = runCLI(t, nil, append(db, "--exchange", "binance", "--output", "json")...)
	require.Equal(t, ExitOK, code, stderr)
	var rows []struct {
		Exchange, Symbol string
		DataType         string  `json:"data_type"`
		AvgScore         float64 `json:"avg_score"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	require.Len(t, rows, 2)
	require.Equal(t, "ETH/USDT", rows[1].Symbol)
	require.Equal(t, 1.0, rows[1].AvgScore)

	code, out, _ = runCLI(t, nil, append(db, "--exchange", "okx", "-o", "json")...)
	require.Equal(t, ExitOK, code)
	require.Equal(t, "[]\n", out)

	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"-o", "xml"}, "--output"},
		{[]string{"--exchange", "mtgox"}, "--exchange"},
		{[]string{"--symbol", "BTCUSDT"}, "--symbol"},
		{[]string{"--since", "soon"}, "--since"},
	} {
		code, _, stderr := runCLI(t, nil, append(db, c.args...)...)
		require.Equal(t, ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.flag, c.args)
	}
}
