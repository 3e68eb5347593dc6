package cli

import (
	"context"
	"flag"

	"github.com/mdingest/mdingest/internal/daemon"
)

var runListen string

func init() {
	register(&command{
		name:    "run",
		summary: "the daemon: scheduler, fetch -> validate -> cache -> store, HTTP on --listen",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&runListen, "listen", "", "HTTP listen address for /metrics /healthz /readyz /status (default 127.0.0.1:9108)")
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return usagef("run takes no arguments, got %q", args[0])
			}
			cfg, err := e.loadConfig(fs)
			if err != nil {
				return err
			}
			if isSet(fs, "listen") {
				cfg.Listen = runListen
				if err := cfg.Validate(); err != nil {
					return err
				}
			}
			return daemon.Run(ctx, cfg, e.logger)
		},
	})
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
