// Package cli is mdingest's command line, built on cobra: one file per
// subcommand, each a constructor whose flags parse into a struct of its
// own; flags layered over the configuration; and the exit codes of SPEC.md
// (0 ok, 1 runtime failure, 2 bad usage or configuration, 130 after
// SIGINT). Exits happen only here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdingest/mdingest/internal/buildinfo"
	"github.com/mdingest/mdingest/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitInterrupted is 128 + SIGINT, what a shell reports for a command
	// Ctrl-C ended.
	ExitInterrupted = 130
)

// The causes SignalContext ends its context with. Each is also
// context.Canceled (errors.Is), as os/signal's are: code that stops on a
// canceled context stops the same, whatever error the cause reaches it in.
var (
	ErrInterrupted error = &signalCause{"interrupted (SIGINT)"}
	ErrTerminated  error = &signalCause{"terminated (SIGTERM)"}
)

type signalCause struct{ msg string }

func (e *signalCause) Error() string { return e.msg }

func (e *signalCause) Is(target error) bool { return target == context.Canceled }

// SignalContext returns a context that the first SIGINT or SIGTERM ends,
// with ErrInterrupted or ErrTerminated as its cause (context.Cause), so
// that Main can tell Ctrl-C (exit 130) from a service manager's stop (the
// command's own exit code). stop releases the signals.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			if s == os.Interrupt {
				cancel(ErrInterrupted)
			} else {
				cancel(ErrTerminated)
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(context.Canceled)
	}
}

// usageError is bad usage: exit 2 with its one-line message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// env is what a command runs with: one per Main call, owned by the
// command tree that newRoot builds (nothing lives in package variables).
type env struct {
	stdout, stderr io.Writer
	getenv         config.Env
	globals        globals
	// flags are the running command's (its own and the global ones): they
	// say which flags the user set.
	flags  *pflag.FlagSet
	logger *slog.Logger
}

// globals are the flags every command accepts, before or after its name.
type globals struct {
	configPath  string
	databaseURL string
	logFormat   string
	logLevel    string
}

func (g *globals) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.configPath, "config", "", "YAML configuration file (default: mdingest.yaml if present, or $MDINGEST_CONFIG)")
	fs.StringVar(&g.databaseURL, "database-url", "", "PostgreSQL URL (overrides DATABASE_URL and the file)")
	fs.StringVar(&g.logFormat, "log-format", "", "log format: text or json")
	fs.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error")
}

// set reports whether the user gave flag name to the running command.
func (e *env) set(name string) bool {
	f := e.flags.Lookup(name)
	return f != nil && f.Changed
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv config.Env) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if errors.Is(context.Cause(ctx), ErrInterrupted) {
		if err != nil && !isLogged(err) && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		}
		return ExitInterrupted
	}
	return exitCode(stderr, cmd, err)
}

// newRoot builds the command tree.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "mdingest",
		Short: "market-data warehouse ingester",
		Long: `mdingest fetches market data from crypto exchanges' REST APIs, checks it, caches the
latest values in Redis and stores everything in PostgreSQL/TimescaleDB.

Global flags go before or after the command. Exit codes: 0 ok, 1 runtime failure,
2 bad usage or configuration, 130 interrupted (SIGINT).`,
		Version:       buildinfo.Get().String(),
		Args:          unknownCommand,
		SilenceErrors: true,
		SilenceUsage:  true,
		// mdingest alone is bad usage: the help, and exit 2.
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(e.stderr)
			_ = cmd.Help()
			return errNoCommand
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			e.flags = cmd.Flags()
			e.logger = newLogger(e.stderr, e.globals.logFormat, e.globals.logLevel, e.getenv)
			return nil
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("{{.Version}}\n")
	// The root runs only to say a command is missing: its usage shows the
	// commands, not "mdingest [flags]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable .HasParent}}", 1))
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	e.globals.register(root.PersistentFlags())
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newRunCmd(e), newMigrateCmd(e), newBackfillCmd(e), newGapsCmd(e), newFetchCmd(e), newImportCmd(e),
		newQualityCmd(e), newStatusCmd(e), newConfigCmd(e), newQuarantineCmd(e), newExportCmd(e),
	)
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	// `completion nosh` would print the help and exit 0: runnable, its
	// argument check refuses the unknown shell (exit 2).
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		comp.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	usageArgs(root)
	return root
}

// errNoCommand: mdingest was run without a command (the help is printed).
var errNoCommand = &usageError{"no command given"}

// unknownCommand refuses a command name mdingest does not have, suggesting
// the nearest ones.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usagef("%s (see mdingest --help)", msg)
}

// noArgs is cobra.Args for commands that take no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}

// usageArgs makes every argument check's error a usage error (exit 2),
// cobra's own commands (completion, help) included.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			var ue *usageError
			if err != nil && !errors.As(err, &ue) {
				return &usageError{err.Error()}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// flagError makes a flag parsing error a usage error, suggesting the
// nearest flag for an unknown one.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		// -config, as Go's flag package took it, reads as -c -o -n...
		if group := ne.GetSpecifiedShortnames(); group != "" {
			if name, _, _ := strings.Cut(group, "="); cmd.Flags().Lookup(name) != nil {
				return usagef("%v; long flags take two dashes: --%s", err, name)
			}
		} else if s := nearestFlag(cmd.Flags(), ne.GetSpecifiedName()); s != "" {
			return usagef("%v; did you mean --%s?", err, s)
		}
	}
	return &usageError{err.Error()}
}

// nearestFlag is the flag name closest to typed (an edit distance of at
// most 2, or typed as a prefix), or "".
func nearestFlag(fs *pflag.FlagSet, typed string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(typed, f.Name)
		if strings.HasPrefix(f.Name, typed) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// logged is an error already logged where it happened (the daemon's
// stop): printing it again would say it twice.
type logged interface{ Logged() bool }

func isLogged(err error) bool {
	var lg logged
	return errors.As(err, &lg) && lg.Logged()
}

func exitCode(stderr io.Writer, cmd *cobra.Command, err error) int {
	var ue *usageError
	var ce *config.Error
	prefix := "mdingest"
	if cmd != nil {
		prefix = cmd.CommandPath()
	}
	switch {
	case err == nil:
		return ExitOK
	case err == errNoCommand:
		return ExitUsage
	case isLogged(err):
		return ExitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
		return ExitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "%s: config: %v\n", prefix, err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
		return ExitFailure
	}
}

// loadConfig builds the configuration: defaults, the file, the
// environment, then only the flags the user set.
func (e *env) loadConfig() (config.Config, error) {
	path, required := e.globals.configPath, true
	if path == "" {
		path, required = "mdingest.yaml", false
		if v, ok := e.getenv("MDINGEST_CONFIG"); ok && v != "" {
			path, required = v, true
		}
	}
	c, err := config.Load(path, required, e.getenv)
	if err != nil {
		return c, err
	}
	if e.set("database-url") {
		c.DatabaseURL = config.Secret(e.globals.databaseURL)
	}
	if e.set("log-format") {
		c.LogFormat = e.globals.logFormat
	}
	if e.set("log-level") {
		c.LogLevel = e.globals.logLevel
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	e.logger = newLogger(e.stderr, c.LogFormat, c.LogLevel, nil)
	routeRedisLogs(e.logger)
	return c, nil
}

func newLogger(w io.Writer, format, level string, getenv config.Env) *slog.Logger {
	if format == "" && getenv != nil {
		format, _ = getenv("MDINGEST_LOG_FORMAT")
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
