package cli

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

// What the test binary is stamped with, as the Makefile stamps a build.
const (
	stampVersion = "v9.9.9-test"
	stampCommit  = "c0ffee1234"
	stampDate    = "2030-01-02T03:04:05Z"
)

// mdingestBinary builds cmd/mdingest into the test's directory, with
// -ldflags -X as `make build` stamps it (the build cache makes a rebuild
// a link).
func mdingestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mdingest")
	pkg := "github.com/mdingest/mdingest/internal/buildinfo"
	ldflags := fmt.Sprintf("-X %s.version=%s -X %s.commit=%s -X %s.date=%s", pkg, stampVersion, pkg, stampCommit, pkg, stampDate)
	out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "github.com/mdingest/mdingest/cmd/mdingest").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// command runs the built binary in an empty directory with no mdingest
// settings from the environment.
func command(t *testing.T, args ...string) (*exec.Cmd, *daemontest.Buffer, *daemontest.Buffer) {
	t.Helper()
	cmd := exec.Command(mdingestBinary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "REDIS_URL=", "MDINGEST_CONFIG=", "MDINGEST_LISTEN=")
	var stdout, stderr daemontest.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// interrupt sends SIGINT and returns the exit code.
func interrupt(t *testing.T, cmd *exec.Cmd, stderr *daemontest.Buffer) int {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running a minute after SIGINT: %s", stderr.String())
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.False(t, ws.Signaled(), "ended by the signal itself, not by mdingest: %s", stderr.String())
	return cmd.ProcessState.ExitCode()
}

func TestVersionOfAStampedBuild(t *testing.T) {
	cmd, stdout, stderr := command(t, "--version")
	require.NoError(t, cmd.Run(), stderr.String())
	require.Equal(t, fmt.Sprintf("mdingest %s (commit %s, built %s, %s)\n", stampVersion, stampCommit, stampDate, runtime.Version()),
		stdout.String())
}

// SIGINT ends the daemon, after its drain, with 130 as a shell reports
// Ctrl-C; it used to exit 0.
func TestSIGINTEndsRunWith130(t *testing.T) {
	cfg := replayConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cmd, _, stderr := command(t, "run", "--config", cfg, "--listen", addr, "--database-url", pgtest.MigratedDB(t))
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "the daemon serves /metrics: %s", stderr.String())
	require.Equal(t, ExitInterrupted, interrupt(t, cmd, stderr), stderr.String())
}

// SIGINT in the middle of a backfill: exit 130, and the message says how
// to resume.
func TestSIGINTEndsBackfillWith130(t *testing.T) {
	var klines atomic.Int64
	srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{}}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/klines") {
				klines.Add(1)
				time.Sleep(200 * time.Millisecond) // slow pages: the signal lands mid-range
			}
			h.ServeHTTP(w, r)
		})
	})
	cfg := filepath.Join(t.TempDir(), "mdingest.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "exchanges:\n  binance: {base_url: %q}\n", srv.URL+"/binance"), 0o600))
	to := time.Now().UTC().Truncate(time.Hour)
	cmd, stdout, stderr := command(t, "backfill", "--config", cfg, "--database-url", pgtest.MigratedDB(t), "--exchange", "binance",
		"--symbols", "BTC/USDT", "--from", to.Add(-60*24*time.Hour).Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return klines.Load() >= 2 }, 30*time.Second, 20*time.Millisecond, stderr.String())
	require.Equal(t, ExitInterrupted, interrupt(t, cmd, stderr), stderr.String())
	require.Contains(t, stderr.String(), "interrupted: rerun the same command to resume")
	require.Contains(t, stdout.String(), "1 ranges", "the summary of what was done")
}
