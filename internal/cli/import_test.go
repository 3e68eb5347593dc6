package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// klines writes n Binance kline rows of period tf from start, with close
// price close(i), to dir/name.
func klines(t *testing.T, dir, name string, start time.Time, tf time.Duration, n int, closeOf func(i int) string) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		open := start.Add(time.Duration(i) * tf).UnixMilli()
		fmt.Fprintf(&b, "%d,100.5,101.5,99.5,%s,12.5,%d,1256.25,7,6.1,613.05,0\n", open, closeOf(i), open+tf.Milliseconds()-1)
	}
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func fixed(s string) func(int) string { return func(int) string { return s } }

var jan = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func migrated(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", url)
	require.Equal(t, ExitOK, code, stderr)
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func scalar(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// Issue 11 §3: a 5m file imported with the default --timeframe 1m stored
// 288 "1m" candles and exited 0. The timeframe is now checked against the
// file's name and against its rows (close_time, or the spacing of open
// times); a mismatch exits 2 naming both values and stores nothing.
func TestImportWrongTimeframeExits2(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	dir := t.TempDir()
	named := klines(t, dir, "BTCUSDT-5m-2024-01-01.csv", jan, 5*time.Minute, 288, fixed("100.75"))
	unnamed := klines(t, dir, "day.csv", jan, 5*time.Minute, 288, fixed("100.75"))
	plain := filepath.Join(dir, "plain.csv")
	require.NoError(t, os.WriteFile(plain, []byte("ts,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1,3\n2024-01-01T00:05:00Z,1,2,0.5,1,3\n"), 0o600))

	for file, want := range map[string][]string{
		named:   {"its name says 5m, the flag says 1m"},
		unnamed: {"its rows are 5m candles", "the flag says 1m"},
		plain:   {"its rows are 5m apart", "the flag says 1m"},
	} {
		code, _, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", file)
		require.Equal(t, ExitUsage, code, file)
		for _, w := range want {
			require.Contains(t, stderr, w, file)
		}
		require.Contains(t, stderr, "--timeframe")
	}
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles`), "nothing stored")
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows`), "nothing stored")

	// Asked for what it is, it loads.
	code, out, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--timeframe", "5m", named)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "288 inserted")
	require.Equal(t, 288, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE timeframe = '5m' AND symbol = 'BTC/USDT'`))
}

// Issue 11 §3: a BTCUSDT file imported as XRP/USDT was accepted.
func TestImportWrongSymbolExits2(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	dir := t.TempDir()
	btc := klines(t, dir, "BTCUSDT-1m-2024-01-01.csv", jan, time.Minute, 10, fixed("100.75"))
	code, _, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "XRP/USDT", btc)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "its name says BTCUSDT, the flag says XRP/USDT")
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles`))

	// A file among several that disagrees stops them all before any is stored.
	eth := klines(t, dir, "ETHUSDT-1m-2024-01-01.csv", jan, time.Minute, 10, fixed("100.75"))
	code, _, _ = runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", btc, eth)
	require.Equal(t, ExitUsage, code)
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles`))
}

// Issue 11 §3: a candle dated 2030 was stored as an open candle. The
// daemon's future_time check refuses it, and the screen says so.
func TestImportFutureCandleRefused(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	path := klines(t, t.TempDir(), "BTCUSDT-1m-2030-01-01.csv", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 3, fixed("100.75"))
	code, out, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", path)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "0 inserted, 0 updated, 0 duplicates, 0 conflicts, 3 refused")
	require.Contains(t, out, "future_time")
	require.Zero(t, scalar(t, conn, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 3, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'future_time' AND source = 'import'`))
}

// Issue 11 §3: a CSV truncated mid-line exited 0, the only trace one row in
// ops.rejected_rows. Now the refused line is on screen and the exit is 1.
func TestImportTruncatedExits1(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	path := klines(t, t.TempDir(), "BTCUSDT-1m-2024-01-01.csv", jan, time.Minute, 100, fixed("100.75"))
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, body[:len(body)-40], 0o600)) // cut inside the last line

	code, out, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", path)
	require.Equal(t, ExitFailure, code)
	require.Contains(t, out, "99 inserted, 0 updated, 0 duplicates, 0 conflicts, 1 refused")
	require.Contains(t, out, "decode")
	require.Contains(t, out, "line 100: the file ends mid-line")
	require.Contains(t, stderr, "file ends mid-line: "+path)
	require.Equal(t, 99, scalar(t, conn, `SELECT count(*) FROM market.candles`), "the lines before it are stored")
	require.Equal(t, 1, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'decode'`))
}

// Issue 11 §5: the reasons embed the values, so grouping one bad file's
// 1,153 refused rows by reason gave 1,153 groups. Grouped by code they are
// one, on screen and in the table.
func TestImportRefusalsGroupByCode(t *testing.T) {
	url := pgtest.NewDB(t)
	conn := migrated(t, url)
	const bad = 1153
	path := klines(t, t.TempDir(), "BTCUSDT-1m-2024-01-01.csv", jan, time.Minute, bad+47, func(i int) string {
		if i < bad {
			return fmt.Sprintf("%d.%d", 200+i, i%7) // above high: a different reason each
		}
		return "100.75"
	})
	code, out, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", path)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, fmt.Sprintf("47 inserted, 0 updated, 0 duplicates, 0 conflicts, %d refused", bad))
	require.Regexp(t, fmt.Sprintf(`ohlc_relation +%d  e\.g\. .*line 1: ohlc_relation: close 200\.0 > high 101\.5`, bad), out)
	require.Equal(t, bad, scalar(t, conn, `SELECT count(DISTINCT reason) FROM ops.rejected_rows`), "the detail stays in the reason")
	require.Equal(t, 1, scalar(t, conn, `SELECT count(DISTINCT code) FROM ops.rejected_rows`))
	require.Equal(t, bad, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'ohlc_relation'`))
}

// Issue 11 §4: 50,000 rows with other prices for keys already stored were
// reported as "0 updated, 50000 duplicates". They are conflicts, on screen,
// in ops.rejected_rows with both versions, and in `mdingest quality`.
func TestImportConflicts(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.MigratedDB(t)
			conn, err := pgx.Connect(context.Background(), url)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			dir := t.TempDir()
			const n = 50_000
			first := klines(t, dir, "BTCUSDT-1m-2023-01.csv", jan.AddDate(-1, 0, 0), time.Minute, n, fixed("100.75"))
			code, _, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", first)
			require.Equal(t, ExitOK, code, stderr)
			require.Equal(t, n, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE closed`))

			other := klines(t, t.TempDir(), "BTCUSDT-1m-2023-01.csv", jan.AddDate(-1, 0, 0), time.Minute, n, fixed("100.5"))
			code, out, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", other)
			require.Equal(t, ExitOK, code, stderr)
			require.NotContains(t, out, "50000 duplicates", "other values are not duplicates")
			require.Contains(t, out, fmt.Sprintf("0 inserted, 0 updated, 0 duplicates, %d conflicts, 0 refused", n))
			require.Contains(t, out, "conflicts: 50000 closed candles were stored before with other values")
			require.Equal(t, n, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE close = 100.75`), "the stored values are kept")
			require.Equal(t, n, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows
				WHERE code = 'conflict' AND payload->'stored'->'ohlcv'->>4 = '100.75' AND payload->'incoming'->'ohlcv'->>4 = '100.5'`))

			// Again, the same file as the first time: duplicates.
			code, out, stderr = runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", first)
			require.Equal(t, ExitOK, code, stderr)
			require.Contains(t, out, fmt.Sprintf("0 inserted, 0 updated, %d duplicates, 0 conflicts, 0 refused", n))

			code, out, stderr = runCLI(t, nil, "quality", "--database-url", url, "--since", "1h")
			require.Equal(t, ExitOK, code, stderr)
			require.Regexp(t, `binance +BTC/USDT +ohlcv:1m +.* 50000 +\S+\n`, out, "the quality summary counts the conflicts")
		})
	}
}

// Many files, globs and the symbol from each file's name; every line is
// accounted for once, and a second run stores nothing new (both backends).
func TestImportManyFilesIdempotent(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.MigratedDB(t)
			conn, err := pgx.Connect(context.Background(), url)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			dir := t.TempDir()
			klines(t, dir, "BTCUSDT-1m-2024-01-01.csv", jan, time.Minute, 1440, fixed("100.75"))
			klines(t, dir, "BTCUSDT-1m-2024-01-02.csv", jan.AddDate(0, 0, 1), time.Minute, 1440, fixed("100.75"))
			klines(t, dir, "ETHBTC-1m-2024-01-01.csv", jan, time.Minute, 1440, fixed("100.75"))
			bad := klines(t, dir, "SOLUSDT-1m-2024-01-01.csv", jan, time.Minute, 10, fixed("100.75"))
			f, err := os.OpenFile(bad, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("1704067800000,5,4,6,5,1,1704067859999,0,1,0,0,0\n") // low > high
			require.NoError(t, err)
			require.NoError(t, f.Close())

			args := []string{"import", "--database-url", url, "--exchange", "binance", "--workers", "3", "--batch-size", "500", filepath.Join(dir, "*USDT-1m-*.csv"), filepath.Join(dir, "ETH*")}
			code, out, stderr := runCLI(t, nil, args...)
			require.Equal(t, ExitOK, code, stderr)
			require.Contains(t, out, "4 files, 4331 lines: 4330 inserted, 0 updated, 0 duplicates, 0 conflicts, 1 refused")
			// stderr is no terminal here: progress comes as log lines, as backfill's does.
			require.Contains(t, stderr, `msg="import starting"`)
			require.Contains(t, stderr, `files=4`)
			require.Contains(t, stderr, `msg="import finished"`)
			if b.Name == "timescaledb" {
				require.Contains(t, stderr, "compression policy of market.candles held back")
			}
			code, out, stderr = runCLI(t, nil, args...)
			require.Equal(t, ExitOK, code, stderr)
			require.Contains(t, out, "4 files, 4331 lines: 0 inserted, 0 updated, 4330 duplicates, 0 conflicts, 1 refused")

			require.Equal(t, 2880, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE symbol = 'BTC/USDT'`))
			require.Equal(t, 1440, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE symbol = 'ETH/BTC'`))
			require.Equal(t, 10, scalar(t, conn, `SELECT count(*) FROM market.candles WHERE symbol = 'SOL/USDT'`))
			require.Equal(t, 2, scalar(t, conn, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'ohlc_relation' AND symbol = 'SOL/USDT' AND source = 'import'`),
				"each run records its refused line")
			require.Positive(t, scalar(t, conn, `SELECT count(*) FROM ops.quality_reports WHERE data_type = 'ohlcv:1m' AND symbol = 'ETH/BTC'`),
				"the checks' reports are kept, as the daemon's are")
		})
	}
}

// --workers defaults to the cores: one file is read per core while the
// database takes the batches.
func TestImportWorkersDefaultToCores(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "import", "--help")
	require.Equal(t, ExitOK, code)
	require.Regexp(t, fmt.Sprintf(`--workers int +files read at once \(default %d\)`, runtime.NumCPU()), stdout)
}

func TestImportUsage(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "k.csv")
	require.NoError(t, os.WriteFile(plain, []byte("ts,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n"), 0o600))
	url := pgtest.NewDB(t)
	migrated(t, url)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "*.zip")}, `no file matches`},
		{[]string{dir}, "is a directory"},
		{[]string{"--workers", "0", plain}, "--workers"},
		{[]string{"--batch-size", "-1", plain}, "--batch-size"},
		{[]string{plain}, "cannot tell the symbol of " + plain},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"import", "--database-url", url, "--exchange", "binance"}, tc.args...)...)
		require.Equal(t, ExitUsage, code, tc.args)
		require.Contains(t, stderr, tc.want, tc.args)
	}
}
