package backfill_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/benchtest"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

// Environment of BenchmarkBackfillStored.
const (
	// EnvBaseRev is the git revision whose mdingest is the baseline;
	// default baseRev.
	EnvBaseRev = "MDINGEST_BENCH_BASE_REV"
	// EnvBaseBin is a baseline binary already built (wins over the rev).
	EnvBaseBin = "MDINGEST_BENCH_BASE_BIN"
)

// baseRev is the tree as issue 10 (bulk loading) found it: the loader
// before the probing, the parts and the import pipeline.
const baseRev = "561e7bf"

var benchSymbols = []string{"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}

// BenchmarkBackfillStored runs `mdingest backfill` of 4 symbols x 91 days
// of 1m candles (524,160 rows) from the in-process exchange replay into a
// private durable TimescaleDB cluster, with this tree's binary and with
// the baseline's (EnvBaseRev, built from git), in turn, each time into a
// fresh database:
//
//	limited:   Binance's real rate limit, what a user's backfill gets;
//	unlimited: the limit lifted, so the fetch, check and store pipeline
//	           itself is measured.
//
// It reports stored rows/s of both and their ratio (this tree over the
// baseline) for each way.
func BenchmarkBackfillStored(b *testing.B) {
	bin := benchtest.BuildMdingest(b, benchtest.ModuleRoot(b))
	base := baseBinary(b)
	c, err := pgtest.StartCluster(pgtest.ClusterOptions{Timescale: true, Durable: true, Settings: benchtest.BulkLoadSettings})
	require.NoError(b, err)
	defer func() { require.NoError(b, c.Remove()) }()
	// The replay's own clock (its Date header, which a Binance limiter
	// follows) runs as the wall clock; the limit is the client's.
	srv := replaytest.NewServer(b, replay.Options{Symbols: benchSymbols, RateLimits: map[string]bool{"binance": false}}, nil)
	from, to := "2024-01-01", "2024-04-01"

	ways := []struct {
		name, limit string
	}{
		{"limited", ""},
		{"unlimited", ", rate_limit: {limit: 1000000, window: 1m, burst: 100000}"},
	}
	dbs := 0
	for b.Loop() {
		for _, w := range ways {
			cfg := filepath.Join(b.TempDir(), "mdingest.yaml")
			require.NoError(b, os.WriteFile(cfg, fmt.Appendf(nil, "exchanges:\n  binance: {enabled: true, base_url: %q%s}\n",
				srv.URL+"/binance", w.limit), 0o600))
			run := func(bin string) float64 {
				dbs++
				name := fmt.Sprintf("backfill_%d", dbs)
				require.NoError(b, c.CreateDB(context.Background(), name))
				url := c.URL(name)
				runMdingest(b, bin, "migrate", "--database-url", url, "up")
				start := time.Now()
				runMdingest(b, bin, "--config", cfg, "--database-url", url, "backfill", "--exchange", "binance",
					"--symbols", strings.Join(benchSymbols, ","), "--timeframe", "1m", "--from", from, "--to", to)
				elapsed := time.Since(start)
				n := benchtest.Candles(b, url)
				// A database left behind would keep its policy jobs running
				// beside the next run.
				require.NoError(b, c.DropDB(context.Background(), name))
				return float64(n) / elapsed.Seconds()
			}
			var ours, theirs float64
			for round := range benchtest.Rounds(b) {
				o, t := run(bin), run(base)
				fmt.Printf("backfill %s round %d: this tree %.0f, baseline %.0f rows/s\n", w.name, round+1, o, t)
				ours, theirs = max(ours, o), max(theirs, t)
			}
			fmt.Printf("backfill of %d symbols x 91 days of 1m candles, %s, best of rounds, %s:\n  this tree %.0f rows/s, baseline (%s) %.0f rows/s: %.2fx\n",
				len(benchSymbols), w.name, time.Now().UTC().Format(time.RFC3339), ours, baseName(), theirs, ours/theirs)
			b.ReportMetric(ours/theirs, w.name+"-new/base")
			b.ReportMetric(ours, w.name+"-rows/s")
		}
	}
}

func baseName() string {
	if p := os.Getenv(EnvBaseBin); p != "" {
		return p
	}
	if r := os.Getenv(EnvBaseRev); r != "" {
		return r
	}
	return baseRev
}

// baseBinary is EnvBaseBin, or mdingest built from a worktree of the
// baseline revision.
func baseBinary(b *testing.B) string {
	if p := os.Getenv(EnvBaseBin); p != "" {
		return p
	}
	root := benchtest.ModuleRoot(b)
	tree := filepath.Join(b.TempDir(), "base")
	add := exec.Command("git", "-C", root, "worktree", "add", "--detach", tree, baseName())
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("checking out the baseline %s (set %s or %s): %v\n%s", baseName(), EnvBaseRev, EnvBaseBin, err, out)
	}
	defer func() { _ = exec.Command("git", "-C", root, "worktree", "remove", "--force", tree).Run() }()
	return benchtest.BuildMdingest(b, tree)
}

func runMdingest(b *testing.B, bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "REDIS_URL=", "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s %s: %s", bin, strings.Join(args, " "), out)
}
