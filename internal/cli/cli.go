// Package cli is mdingest's command line: one file per subcommand, flags
// layered over the configuration, and the exit codes of SPEC.md (0 ok,
// 1 runtime failure, 2 bad usage or configuration). Exits happen only here.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/mdingest/mdingest/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// usageError is bad usage: exit 2 with its one-line message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// env is what a subcommand runs with.
type env struct {
	stdout, stderr io.Writer
	getenv         config.Env
	globals        *globals
	logger         *slog.Logger
}

// globals are the flags every subcommand accepts.
type globals struct {
	configPath  string
	databaseURL string
	logFormat   string
	logLevel    string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.configPath, "config", "", "YAML configuration file (default: mdingest.yaml if present)")
	fs.StringVar(&g.databaseURL, "database-url", "", "PostgreSQL URL (overrides DATABASE_URL and the file)")
	fs.StringVar(&g.logFormat, "log-format", "", "log format: text or json")
	fs.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error")
}

// command is one subcommand.
type command struct {
	name    string
	args    string // positional synopsis
	summary string
	flags   func(fs *flag.FlagSet) // the subcommand's own flags
	run     func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv config.Env) int {
	g := &globals{}
	top := flag.NewFlagSet("mdingest", flag.ContinueOnError)
	top.SetOutput(stderr)
	g.register(top)
	top.Usage = func() { topUsage(stderr, top) }
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if top.NArg() == 0 {
		topUsage(stderr, top)
		return ExitUsage
	}
	name := top.Arg(0)
	if name == "help" {
		topUsage(stdout, top)
		return ExitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "mdingest: unknown command %q (see mdingest --help)\n", name)
		return ExitUsage
	}
	fs := flag.NewFlagSet("mdingest "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := &globals{}
	sub.register(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mdingest %s [flags] %s\n\n%s\n\nFlags:\n", name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, top.Args()[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	// Global flags may come before or after the command; the later wins.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	top.Visit(func(f *flag.Flag) {
		if !set[f.Name] {
			_ = fs.Set(f.Name, f.Value.String())
		}
	})
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv, globals: sub}
	e.logger = newLogger(stderr, sub.logFormat, sub.logLevel, getenv)
	err = cmd.run(ctx, e, fs, positional)
	return exitCode(stderr, name, err)
}

// logged is an error already logged where it happened (the daemon's
// stop): printing it again would say it twice.
type logged interface{ Logged() bool }

func exitCode(stderr io.Writer, name string, err error) int {
	var ue *usageError
	var ce *config.Error
	var lg logged
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &lg) && lg.Logged():
		return ExitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mdingest %s: %v\n", name, err)
		return ExitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "mdingest %s: config: %v\n", name, err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "mdingest %s: %v\n", name, err)
		return ExitFailure
	}
}

// parseInterspersed lets flags follow positional arguments
// ("migrate down 1 --database-url X"), which package flag alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func topUsage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprintln(w, "mdingest: market-data warehouse ingester\n\nUsage: mdingest [global flags] <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, strings.SplitN(commands[n].summary, "\n", 2)[0])
	}
	fmt.Fprintln(w, "\nGlobal flags (accepted by every command):")
	top.SetOutput(w)
	top.PrintDefaults()
	fmt.Fprintln(w, "\nRun 'mdingest <command> --help' for a command's flags.")
}

// loadConfig builds the configuration: defaults, the file, the
// environment, then only the flags the user set.
func (e *env) loadConfig(fs *flag.FlagSet) (config.Config, error) {
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
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "database-url":
			c.DatabaseURL = config.Secret(e.globals.databaseURL)
		case "log-format":
			c.LogFormat = e.globals.logFormat
		case "log-level":
			c.LogLevel = e.globals.logLevel
		}
	})
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
