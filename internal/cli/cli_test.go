package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
)

// latestVersion is "version N" for the newest embedded migration.
func latestVersion(t *testing.T) string {
	t.Helper()
	v, err := schema.Latest()
	require.NoError(t, err)
	return fmt.Sprintf("version %d", v)
}

// runCLI runs the command line in-process with a private environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	return code, out.String(), errOut.String()
}

func TestHelpAndUsage(t *testing.T) {
	root := newRoot(&env{stdout: io.Discard, stderr: io.Discard})
	for _, c := range root.Commands() {
		name := c.Name()
		code, stdout, _ := runCLI(t, nil, name, "--help")
		require.Equal(t, ExitOK, code, name)
		require.Contains(t, stdout, "Usage:\n  mdingest "+name, name)
	}
	code, _, _ := runCLI(t, nil, "--help")
	require.Equal(t, ExitOK, code)
	code, _, stderr := runCLI(t, nil, "frobnicate")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, `unknown command "frobnicate"`)
	code, _, _ = runCLI(t, nil)
	require.Equal(t, ExitUsage, code)
	code, _, stderr = runCLI(t, nil, "migrate", "sideways")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "sideways")
	code, _, _ = runCLI(t, nil, "migrate", "down", "x")
	require.Equal(t, ExitUsage, code)
	code, _, _ = runCLI(t, nil, "import", "--nope")
	require.Equal(t, ExitUsage, code)
	code, _, stderr = runCLI(t, nil, "import", "--exchange", "mtgox", "--symbol", "BTC/USD", "x.csv")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "--exchange")
}

func TestBadConfigExits2NamingKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("exchanges: {kraken: {timeout: -1s}}\n"), 0o600))
	code, _, stderr := runCLI(t, nil, "--config", path, "migrate", "version")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "exchanges.kraken.timeout")
	code, _, stderr = runCLI(t, map[string]string{"MDINGEST_LOG_FORMAT": "xml"}, "migrate", "version")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "log_format")
	code, _, stderr = runCLI(t, nil, "migrate", "version", "--database-url", "mysql://x")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "database_url")
}

func TestRuntimeFailureExits1(t *testing.T) {
	url := pgtest.NewDB(t) // exists, not migrated
	code, _, stderr := runCLI(t, nil, "quality", "--database-url", url)
	require.Equal(t, ExitFailure, code)
	require.Contains(t, stderr, "migrate up")
}

func TestMigrateCycle(t *testing.T) {
	url := pgtest.NewDB(t)
	for _, args := range [][]string{{"up"}, {"version"}, {"down", "2"}, {"version"}, {"up"}} {
		code, out, stderr := runCLI(t, nil, append([]string{"migrate"}, append(args, "--database-url", url)...)...)
		require.Equal(t, ExitOK, code, "%v: %s", args, stderr)
		require.Contains(t, out, "version")
	}
	code, out, _ := runCLI(t, map[string]string{"DATABASE_URL": url}, "migrate", "version")
	require.Equal(t, ExitOK, code)
	require.Equal(t, latestVersion(t)+" (postgres)\n", out)
}

func TestMigrateCreatesDatabase(t *testing.T) {
	url := pgtest.NewDB(t)
	// Point at a sibling database that does not exist yet; NewDB's cleanup
	// only drops its own, so drop this one too.
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	fresh := strings.Replace(url, "/"+cfg.Database+"?", "/"+cfg.Database+"_new?", 1)
	require.NotEqual(t, url, fresh)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database + "_new"}.Sanitize()+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", fresh)
	require.Equal(t, ExitFailure, code, "without --create a missing database is an error")
	require.Contains(t, stderr, "does not exist")
	code, out, stderr := runCLI(t, nil, "migrate", "up", "--create", "--database-url", fresh)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, latestVersion(t))
	code, _, stderr = runCLI(t, nil, "migrate", "up", "--create", "--database-url", fresh)
	require.Equal(t, ExitOK, code, "an existing database is fine: %s", stderr)
}

func TestImportUnmigratedDatabase(t *testing.T) {
	url := pgtest.NewDB(t)
	f := filepath.Join(t.TempDir(), "k.csv")
	require.NoError(t, os.WriteFile(f, []byte("ts,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n"), 0o600))
	code, _, stderr := runCLI(t, nil, "import", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", f)
	require.Equal(t, ExitFailure, code)
	require.Contains(t, stderr, "migrate up")
}

func TestImportEndToEnd(t *testing.T) {
	url := pgtest.NewDB(t)
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--database-url", url)
	require.Equal(t, ExitOK, code, stderr)

	dir := t.TempDir()
	var b strings.Builder
	const n = 1500
	for i := range n { // Binance layout, ms open times
		ts := int64(1704067200000) + int64(i)*60_000
		fmt.Fprintf(&b, "%d,100.%d,101.5,99.25,100.5,%d.125,%d,0,1,0,0,0\n", ts, i%10, i, ts+59_999)
	}
	b.WriteString("1704157200000,5,4,6,5,1,1704157259999,0,1,0,0,0\n") // low > high
	good := filepath.Join(dir, "BTCUSDT-1m.csv")
	require.NoError(t, os.WriteFile(good, []byte(b.String()), 0o600))

	args := []string{"import", "--database-url", url, "--exchange", "binance", "--symbol", "btc/usdt", "--batch-size", "400", good}
	code, out, stderr := runCLI(t, nil, args...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, fmt.Sprintf("1 files, %d lines: %d inserted, 0 updated, 0 duplicates, 0 conflicts, 1 refused", n+1, n))
	require.Contains(t, out, "ohlc_relation                 1  e.g. "+good+" line 1501: ohlc_relation: low 6 > open 5")

	code, out, stderr = runCLI(t, nil, args...)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, fmt.Sprintf("1 files, %d lines: 0 inserted, 0 updated, %d duplicates, 0 conflicts, 1 refused", n+1, n))

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var rows, rejected, hours int
	var firstOpen string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*), min(open::text) FILTER (WHERE ts = '2024-01-01T00:00:00Z') FROM market.candles WHERE exchange = 'binance' AND symbol = 'BTC/USDT' AND closed`).Scan(&rows, &firstOpen))
	require.Equal(t, n, rows)
	require.Equal(t, "100.0", firstOpen)
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM ops.rejected_rows WHERE source = 'import' AND code = 'ohlc_relation'`).Scan(&rejected))
	require.Equal(t, 2, rejected, "each import records its rejects")
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM market.candles_1h WHERE exchange = 'binance'`).Scan(&hours))
	require.Equal(t, 25, hours, "1500 minutes span 25 hours in the 1h view")
}
