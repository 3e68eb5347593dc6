package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/buildinfo"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/pgtest"
)

func TestVersionFlag(t *testing.T) {
	code, out, stderr := runCLI(t, nil, "--version")
	require.Equal(t, ExitOK, code, stderr)
	require.Equal(t, buildinfo.Get().String()+"\n", out)
	require.Contains(t, out, "commit ")
	require.Contains(t, out, "built ")
}

// Help shows flags as --flag, and a command's global flags too.
func TestHelpShowsDoubleDashFlags(t *testing.T) {
	code, out, _ := runCLI(t, nil, "fetch", "--help")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "--exchange string")
	require.Contains(t, out, "--database-url string")
	require.NotContains(t, out, " -exchange")
	code, out, _ = runCLI(t, nil, "help", "backfill")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "--days int")
}

// A typo gets the nearest command or flag, exit 2, on one line.
func TestTypoSuggestions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `unknown command "stauts"; did you mean "status"?`},
		{[]string{"backfil"}, `did you mean "backfill"?`},
		{[]string{"backfill", "--exchnage", "binance"}, "unknown flag: --exchnage; did you mean --exchange?"},
		{[]string{"gaps", "--symbol", "BTC/USDT"}, "did you mean --symbols?"},
		{[]string{"quality", "--databse-url", "x"}, "did you mean --database-url?"},
		{[]string{"-config", "x.yaml", "status"}, "long flags take two dashes: --config"},
		{[]string{"gaps", "-exchange=binance"}, "long flags take two dashes: --exchange"},
	} {
		code, _, stderr := runCLI(t, nil, c.args...)
		require.Equal(t, ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, c.args)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
	}
	code, _, stderr := runCLI(t, nil, "backfill", "--zzzzzzzz")
	require.Equal(t, ExitUsage, code)
	require.NotContains(t, stderr, "did you mean", "nothing near")
}

// `completion bash|zsh|fish` prints the scripts; the flags that take one
// of a few values complete them.
func TestShellCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "bash completion V2 for mdingest", "zsh": "#compdef mdingest", "fish": "complete -c mdingest"} {
		code, out, stderr := runCLI(t, nil, "completion", shell)
		require.Equal(t, ExitOK, code, stderr)
		require.Contains(t, out, marker, shell)
	}
	code, _, stderr := runCLI(t, nil, "completion", "tcsh")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "tcsh")

	// What the scripts ask: the candidates, then a directive line.
	candidates := func(args ...string) []string {
		code, out, stderr := runCLI(t, nil, append([]string{"__complete"}, args...)...)
		require.Equal(t, ExitOK, code, stderr)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		return got
	}
	require.ElementsMatch(t, registry.IDs(), candidates("backfill", "--exchange", ""))
	require.ElementsMatch(t, []string{"markets", "ticker", "orderbook", "ohlcv", "trades"}, candidates("fetch", "--kind", ""))
	require.ElementsMatch(t, []string{"1m", "5m", "15m", "1h", "4h", "1d"}, candidates("backfill", "--timeframe", ""))
	require.ElementsMatch(t, []string{"table", "csv", "json"}, candidates("quality", "-o", ""))
	require.ElementsMatch(t, []string{"up", "down", "version", "force"}, candidates("migrate", ""))
	require.Contains(t, candidates("sta"), "status")
}

// Global flags work before or after the command.
func TestGlobalFlagsBeforeOrAfterTheCommand(t *testing.T) {
	url := pgtest.MigratedDB(t)
	for _, args := range [][]string{
		{"--database-url", url, "--log-level", "debug", "migrate", "version"},
		{"migrate", "version", "--database-url", url, "--log-level", "debug"},
		{"migrate", "--database-url", url, "version", "--log-level=debug"},
	} {
		code, out, stderr := runCLI(t, nil, args...)
		require.Equal(t, ExitOK, code, "%v: %s", args, stderr)
		require.Equal(t, latestVersion(t)+" (postgres)\n", out, args)
	}
}

// Each run parses into its own flags: runs side by side in one process
// (as tests and embedders do) see only theirs. With flags in package
// variables they raced and read each other's values.
func TestConcurrentRunsKeepTheirOwnFlags(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			kind := fmt.Sprintf("kind%d", i)
			since := fmt.Sprintf("soon%d", i)
			var errs [2]string
			_, _, errs[0] = runCLI(t, nil, "fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", kind)
			_, _, errs[1] = runCLI(t, nil, "quality", "--since", since)
			if !strings.Contains(errs[0], kind) || !strings.Contains(errs[1], since) {
				t.Errorf("run %d read another run's flags: %q %q", i, errs[0], errs[1])
			}
		})
	}
	wg.Wait()
}

// A context ended by SIGINT (SignalContext's cause) makes the exit 130,
// whatever the command returned; a plain cancel keeps the command's code.
func TestInterruptedContextExits130(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrInterrupted)
	require.ErrorIs(t, context.Cause(ctx), context.Canceled, "code that stops on cancel stops")
	code := run(ctx, []string{"migrate", "version", "--database-url", "postgres://127.0.0.1:1/x?connect_timeout=1"},
		&strings.Builder{}, &strings.Builder{}, func(string) (string, bool) { return "", false })
	require.Equal(t, ExitInterrupted, code)

	ctx, cancel = context.WithCancelCause(context.Background())
	cancel(ErrTerminated)
	code = run(ctx, []string{"quality", "--since", "never"}, &strings.Builder{}, &strings.Builder{},
		func(string) (string, bool) { return "", false })
	require.Equal(t, ExitUsage, code, "SIGTERM keeps the command's own code")
}
