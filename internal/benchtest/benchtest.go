// Package benchtest holds what the benchmarks that run mdingest as a
// program share: the cluster settings they load into, how many rounds they
// run, the binary they build and the count they check.
package benchtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// BulkLoadSettings tune a benchmark's cluster for bulk loading, as an
// operator would (and as timescaledb-tune does): durable (fsync on), with
// room for the hot chunks in shared buffers and no checkpoint mid-load.
var BulkLoadSettings = map[string]string{
	"shared_buffers":     "1GB",
	"max_wal_size":       "8GB",
	"checkpoint_timeout": "30min",
	"wal_compression":    "off",
}

// EnvRounds sets how many times a benchmark runs every way; each way's
// best round counts. Other work on the machine only ever slows a way
// down, so the best of a few rounds, taken in turn, is the fairest
// comparison on a shared machine.
const EnvRounds = "MDINGEST_BENCH_ROUNDS"

// Rounds is EnvRounds, 3 by default.
func Rounds(tb testing.TB) int {
	n := 3
	if v := os.Getenv(EnvRounds); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(tb, err, EnvRounds)
	}
	return max(n, 1)
}

// ModuleRoot is the directory of the module's go.mod.
func ModuleRoot(tb testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(tb, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// BuildMdingest builds cmd/mdingest of the module at dir into a temporary
// directory.
func BuildMdingest(tb testing.TB, dir string) string {
	bin := filepath.Join(tb.TempDir(), "mdingest")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mdingest")
	build.Dir = dir
	out, err := build.CombinedOutput()
	require.NoError(tb, err, "go build in %s: %s", dir, out)
	return bin
}

// Candles counts market.candles in the database at url.
func Candles(tb testing.TB, url string) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(tb, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(tb, conn.QueryRow(ctx, "SELECT count(*) FROM market.candles").Scan(&n))
	return n
}
