package cli

import (
	"context"
	"flag"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/mdingest/mdingest/internal/daemon"
)

func init() {
	register(&command{
		name:    "config",
		summary: "print the effective configuration (defaults, file, environment, flags) as YAML, secrets masked",
		run:     runConfig,
	})
}

func runConfig(_ context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	c, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	// Secrets marshal masked (config.Secret's MarshalText); base URLs and
	// rate limits are shown as the daemon would use them.
	enc := yaml.NewEncoder(e.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(daemon.Effective(c)); err != nil {
		return fmt.Errorf("encoding the configuration: %w", err)
	}
	return enc.Close()
}
