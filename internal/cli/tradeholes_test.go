package cli

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
)

// TestTradeHoles: `gaps --kind trades` lists the holes trade capture
// recorded, `--fill` fills them where the exchange can, and `backfill
// --trades` fills those of its range; a latest-trades-only exchange's
// hole is marked unfillable. --kind takes ohlcv or trades.
func TestTradeHoles(t *testing.T) {
	cfg := replayConfig(t)
	url := pgtest.NewDB(t)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", url)
	require.Equal(t, ExitOK, code, stderr)
	db := []string{"--config", cfg, "--database-url", url}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}

	// 500 trades stored, then two stretches cut out of them and recorded
	// as holes, as capture would have.
	for _, ex := range []string{"binance", "kucoin"} {
		code, _, stderr = runCLI(t, nil, append(db, "fetch", "--exchange", ex, "--symbol", "BTC/USDT", "--kind", "trades", "--store", "--limit", "500")...)
		require.Equal(t, ExitOK, code, stderr)
	}
	stored := count(`SELECT count(*) FROM market.trades WHERE exchange = 'binance'`)
	require.Equal(t, 500, stored)
	cut := func(ex string, from, to int) {
		t.Helper()
		_, err := conn.Exec(ctx, `WITH t AS (SELECT ts, trade_id, row_number() OVER (ORDER BY ts, trade_id::numeric) AS n FROM market.trades WHERE exchange = $1),
			ends AS (SELECT (SELECT ts FROM t WHERE n = $2) AS f_ts, (SELECT trade_id FROM t WHERE n = $2) AS f_id,
			                (SELECT ts FROM t WHERE n = $3) AS t_ts, (SELECT trade_id FROM t WHERE n = $3) AS t_id),
			gone AS (DELETE FROM market.trades m USING t WHERE m.exchange = $1 AND m.trade_id = t.trade_id AND t.n > $2 AND t.n < $3)
			INSERT INTO ops.trade_holes (exchange, symbol, from_ts, from_id, to_ts, to_id, reason, missed)
			SELECT $1, 'BTC/USDT', f_ts, f_id, t_ts, t_id, 'no_overlap', $3 - $2 - 1 FROM ends`, ex, from, to)
		require.NoError(t, err)
	}
	cut("binance", 100, 200)
	cut("binance", 300, 321)
	cut("kucoin", 10, 50)
	require.Equal(t, stored-99-20, count(`SELECT count(*) FROM market.trades WHERE exchange = 'binance'`))

	gaps := append(db, "gaps", "--exchange", "binance", "--kind", "trades")
	code, out, stderr := runCLI(t, nil, gaps...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "REASON")
	require.Contains(t, out, "no_overlap")
	require.Contains(t, out, "99")
	require.Contains(t, out, "open")

	// --fill with a range that holds only the first hole.
	var mid time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_ts FROM ops.trade_holes WHERE exchange = 'binance' ORDER BY from_ts LIMIT 1`).Scan(&mid))
	code, out, stderr = runCLI(t, nil, append(gaps, "--to", mid.Add(time.Millisecond).UTC().Format(time.RFC3339Nano), "--fill")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "1 trade holes: 1 filled")
	require.Equal(t, stored-20, count(`SELECT count(*) FROM market.trades WHERE exchange = 'binance'`))

	// backfill --trades fills the open holes of its range.
	from := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	code, out, stderr = runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "BTC/USDT", "--from", from, "--trades")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "1 trade holes: 1 filled")
	require.Equal(t, 0, count(`SELECT count(*) FROM ops.trade_holes WHERE exchange = 'binance' AND status <> 'filled'`))
	require.GreaterOrEqual(t, count(`SELECT count(*) FROM market.trades WHERE exchange = 'binance'`), stored)

	code, out, stderr = runCLI(t, nil, append(db, "gaps", "--exchange", "kucoin", "--kind", "trades", "--fill")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "1 unfillable")
	require.Equal(t, 1, count(`SELECT count(*) FROM ops.trade_holes WHERE exchange = 'kucoin' AND status = 'unfillable' AND detail LIKE '%latest trades%'`))

	code, _, stderr = runCLI(t, nil, append(db, "gaps", "--exchange", "binance", "--kind", "tickers")...)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "--kind")
}
