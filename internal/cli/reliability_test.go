package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
	"github.com/mdingest/mdingest/internal/spool"
)

// runCLIUntil runs the command line until it returns or ctx ends.
func runCLIUntil(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut, func(string) (string, bool) { return "", false })
	return code, out.String(), errOut.String()
}

// Times outside what exchanges and time.Duration hold are refused as bad
// usage, naming the flag: 0001-01-01 used to read as "no --from" (exit 1,
// "from and to are required"), 9999-12-31 to overflow the span.
func TestTimeBoundsAreUsageErrors(t *testing.T) {
	db := pgtest.MigratedDB(t)
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"backfill", "--exchange", "binance", "--symbols", "BTC/USDT", "--from", "0001-01-01", "--to", "2024-01-01"}, "--from"},
		{[]string{"backfill", "--exchange", "binance", "--symbols", "BTC/USDT", "--from", "2024-01-01", "--to", "9999-12-31"}, "--to"},
		{[]string{"gaps", "--exchange", "binance", "--from", "0001-01-01"}, "--from"},
		{[]string{"gaps", "--exchange", "binance", "--from", "2024-01-01", "--to", "9999-12-31"}, "--to"},
		{[]string{"backfill", "--exchange", "binance", "--symbols", "BTC/USDT", "--from", "2024-01-01", "--concurrency", "100000"}, "--concurrency"},
		{[]string{"fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", "ohlcv", "--limit", "2000000000"}, "--limit"},
	} {
		code, _, stderr := runCLI(t, nil, append(c.args, "--database-url", db)...)
		require.Equal(t, ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.flag, "%v", c.args)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
	}
}

// gaps --symbols takes only symbols that can exist: a unified symbol the
// exchange is configured for or the database knows, not any string.
func TestGapsValidatesSymbols(t *testing.T) {
	db := pgtest.MigratedDB(t)
	for _, bad := range []string{"$$$/%%%", "NOPE/NOPE", "BTC/USDT,xx", ",,"} {
		code, out, stderr := runCLI(t, nil, "gaps", "--exchange", "binance", "--symbols", bad, "--from", "2024-01-01", "--to", "2024-01-02",
			"--database-url", db)
		require.Equal(t, ExitUsage, code, "%q: %s%s", bad, out, stderr)
		require.Contains(t, stderr, "--symbols", bad)
	}
	code, out, stderr := runCLI(t, nil, "gaps", "--exchange", "binance", "--symbols", "btc/usdt", "--from", "2024-01-01", "--to", "2024-01-02",
		"--database-url", db)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "BTC/USDT")
}

// store.queue_size: 2000000000 crashed with out-of-memory in makechan;
// now it exits 2 naming the key, before anything is built.
func TestHugeQueueSizeExits2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("store: {queue_size: 2000000000}\n"), 0o600))
	code, _, stderr := runCLI(t, nil, "run", "--config", path)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "store.queue_size")
}

// A taken HTTP address fails the daemon at start, exit 1, naming it; it
// used to run without /metrics, /healthz and /status until stopped.
func TestRunFailsAtStartWhenTheAddressIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, _, stderr := runCLIUntil(ctx, "run", "--listen", ln.Addr().String(), "--database-url", pgtest.MigratedDB(t),
		"--config", writeConfig(t, "store: {spool_dir: "+t.TempDir()+"}\n"))
	require.NoError(t, ctx.Err(), "returned at start, not at the end: %s", stderr)
	require.Equal(t, ExitFailure, code, stderr)
	require.Contains(t, stderr, "listening on "+ln.Addr().String())
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mdingest.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// The daemon starts with the database down (spooling), and a SIGTERM with
// a full spool and the database still down drops nothing: it exits 1, the
// drain's error logged once, by "mdingest stopped" at ERROR.
func TestRunWithDatabaseDownStopsOnceWithTheDrainError(t *testing.T) {
	srv := replaytest.NewServer(t, replay.Options{Symbols: []string{"BTC/USDT", "ETH/USDT"}, RateLimits: map[string]bool{"binance": false}}, nil)
	deadDB := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/none?sslmode=disable&connect_timeout=1", pgtest.FreePort(t))
	spoolDir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`listen: 127.0.0.1:%d
exchanges:
  binance: {enabled: true, base_url: %q, symbols: [BTC/USDT, ETH/USDT], rate_limit: {limit: 200, window: 1s, burst: 50}}
  kraken: {enabled: false}
  kucoin: {enabled: false}
  htx: {enabled: false}
jobs: {realtime: 1s, high: 1s, medium: 1s, low: 5s, jitter: 10ms}
store: {spool_dir: %q, spool_max_bytes: 4096, drain_timeout: 1s, flush_interval: 50ms}
`, pgtest.FreePort(t), srv.URL+"/binance", spoolDir))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	var stderr string
	go func() {
		defer close(done)
		code, _, stderr = runCLIUntil(ctx, "run", "--config", cfg, "--database-url", deadDB, "--log-level", "info")
	}()
	// It runs and fetches while the database is down.
	require.Eventually(t, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		served := srv.Stats()["binance"]
		n := int64(0)
		for _, r := range served.Routes {
			n += r.Requests
		}
		return n >= 6 // the market list, then every job at least once
	}, 30*time.Second, 50*time.Millisecond)
	select {
	case <-done:
		t.Fatalf("the daemon stopped at start with the database down (exit %d): %s", code, stderr)
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon did not stop")
	}
	require.Equal(t, ExitFailure, code, stderr)
	require.Equal(t, 1, strings.Count(stderr, "drain deadline reached"), "the drain error once:\n%s", stderr)
	require.Contains(t, stderr, `level=ERROR msg="mdingest stopped"`)
	require.NotContains(t, stderr, `level=INFO msg="mdingest stopped"`)
	require.NotContains(t, stderr, "rows dropped", "nothing dropped:\n%s", stderr)
	require.Contains(t, stderr, "database unreachable at start")

	// What was fetched is on disk, for the next start.
	sp, err := spool.Open(spoolDir, spool.Options{MaxBytes: 4096})
	require.NoError(t, err)
	defer sp.Close()
	require.Positive(t, sp.Pending())
}

// Quarantined batches are listed and replayed by `mdingest quarantine`;
// the spool is found from the configuration (store.spool_dir here).
func TestQuarantineListAndReplay(t *testing.T) {
	db := pgtest.MigratedDB(t)
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err)
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var cs []market.Candle
	for i := range 3 {
		cs = append(cs, market.Candle{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: t0.Add(time.Duration(i) * time.Minute),
			Open: market.MustDecimal("1"), High: market.MustDecimal("2"), Low: market.MustDecimal("0.5"), Close: market.MustDecimal("1.5"),
			Volume: market.MustDecimal("10"), Closed: true})
	}
	require.NoError(t, sp.Quarantine("candles", cs, "unexpected EOF"))
	require.NoError(t, sp.Close())
	cfg := writeConfig(t, "store: {spool_dir: "+dir+"}\n")

	code, out, stderr := runCLI(t, nil, "quarantine", "list", "--config", cfg)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "candles")
	require.Contains(t, out, "unexpected EOF")
	require.Contains(t, out, "1 batches, 3 rows")

	code, out, stderr = runCLI(t, nil, "quarantine", "replay", "--config", cfg, "--database-url", db)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "replayed 1 batches (3 rows)")
	conn, err := pgx.Connect(context.Background(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM market.candles`).Scan(&n))
	require.Equal(t, 3, n)

	code, out, _ = runCLI(t, nil, "quarantine", "list", "--spool-dir", dir)
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "no quarantined batches")

	code, _, stderr = runCLI(t, nil, "quarantine", "sideways", "--spool-dir", dir)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "sideways")
}
