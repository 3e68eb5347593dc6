package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
)

// --days N is from 00:00 UTC N days ago, so the same command rerun that day
// starts at the same time and resumes; it replaces --from and --to.
func TestDaysRange(t *testing.T) {
	now := time.Date(2024, 5, 10, 15, 4, 5, 0, time.FixedZone("CEST", 2*3600))
	r := rangeFlags{exchange: "binance", symbols: []string{"BTC/USDT"}, days: 3}
	p, err := r.parse(true, true, now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC), p.from)
	require.True(t, p.to.IsZero(), "up to now")

	for _, bad := range []rangeFlags{
		{exchange: "binance", symbols: []string{"BTC/USDT"}, days: 3, from: "2024-01-01"},
		{exchange: "binance", symbols: []string{"BTC/USDT"}, days: 3, to: "2024-01-01"},
		{exchange: "binance", symbols: []string{"BTC/USDT"}, days: -1},
		{exchange: "binance", symbols: []string{"BTC/USDT"}, days: 100_000},
	} {
		_, err := bad.parse(true, true, now)
		var ue *usageError
		require.ErrorAs(t, err, &ue, "%+v", bad)
		require.Contains(t, err.Error(), "--days", "%+v", bad)
	}
	_, err = (&rangeFlags{exchange: "binance", symbols: []string{"BTC/USDT"}}).parse(true, true, now)
	require.ErrorContains(t, err, "--from (or --days) is required")
}

// backfill takes several timeframes in one call, symbol globs resolved
// from market.symbols, and --days.
func TestBackfillDaysTimeframesAndPatterns(t *testing.T) {
	cfg := replayConfig(t)
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	db := []string{"--config", cfg, "--database-url", url}

	// Before the market list is stored, a glob has nothing to match.
	code, _, stderr := runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "*/USDT", "--days", "1")...)
	require.Equal(t, ExitUsage, code, stderr)
	require.Contains(t, stderr, `--symbols: "*/USDT" matches no symbol: market.symbols lists no active binance market yet`)

	code, _, stderr = runCLI(t, nil, append(db, "fetch", "--exchange", "binance", "--kind", "markets", "--store")...)
	require.Equal(t, ExitOK, code, stderr)
	listed := scalar(t, conn, `SELECT count(*) FROM market.symbols WHERE exchange = 'binance' AND active AND symbol LIKE '%/USDT'`)
	require.Greater(t, listed, 2, "the replay lists several USDT markets")

	code, _, stderr = runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "BTC/USDT,DOGE*/USDT", "--days", "1")...)
	require.Equal(t, ExitUsage, code, stderr)
	require.Contains(t, stderr, `"DOGE*/USDT" matches no symbol: among the`)
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles`), "nothing fetched for a bad pattern")

	code, out, stderr := runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "*/usdt,BTC/USDT",
		"--timeframe", "1h,4h", "--timeframe", "1h", "--days", "1")...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "1h: ")
	require.Contains(t, out, "4h: ")
	from := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for _, tf := range []market.Timeframe{market.TF1h, market.TF4h} {
		require.Equal(t, listed, scalar(t, conn, `SELECT count(DISTINCT symbol) FROM market.candles WHERE timeframe = $1 AND symbol LIKE '%/USDT'`, string(tf)), tf)
		require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE timeframe = $1 AND ts < $2`, string(tf), from), tf)
		require.Equal(t, 1, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE timeframe = $1 AND symbol = 'BTC/USDT' AND ts = $2`, string(tf), from),
			"%s: from 00:00 UTC yesterday", tf)
	}
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE timeframe NOT IN ('1h', '4h') OR symbol NOT LIKE '%/USDT'`))

	// The same command again starts at the same time: every range resumes
	// from its cursor instead of fetching the day again.
	code, out, stderr = runCLI(t, nil, append(db, "backfill", "--exchange", "binance", "--symbols", "*/USDT", "--timeframe", "1h,4h", "--days", "1")...)
	require.Equal(t, ExitOK, code, stderr)
	summaries := regexp.MustCompile(`(?m)^(1h|4h): (\d+) ranges \(\d+ finished, (\d+) resumed, (\d+) already done\)`).FindAllStringSubmatch(out, -1)
	require.Len(t, summaries, 2, out)
	for _, m := range summaries {
		ranges, _ := strconv.Atoi(m[2])
		resumed, _ := strconv.Atoi(m[3])
		done, _ := strconv.Atoi(m[4])
		require.Equal(t, listed, ranges, out)
		require.Equal(t, ranges, resumed+done, "%s: none started over: %s", m[1], out)
	}

	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--timeframe", "1h,2h", "--days", "1"}, "--timeframe"},
		{[]string{"--timeframe", ",", "--days", "1"}, "--timeframe"},
		{[]string{"--days", "1", "--from", "2024-01-01"}, "--days"},
		{[]string{"--symbols", "[/USDT", "--days", "1"}, "--symbols"},
	} {
		args := append(append(db, "backfill", "--exchange", "binance"), c.args...)
		if !strings.Contains(strings.Join(c.args, " "), "--symbols") {
			args = append(args, "--symbols", "BTC/USDT")
		}
		code, _, stderr := runCLI(t, nil, args...)
		require.Equal(t, ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.flag, c.args)
	}
}
