package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/schema"
)

func newMigrateCmd(e *env) *cobra.Command {
	var create bool
	cmd := &cobra.Command{
		Use:   "migrate up|down N|version|force V",
		Short: "apply the embedded schema migrations to --database-url",
		Long: `Applies the schema migrations built into the binary to --database-url (or DATABASE_URL,
or the file's database_url), on TimescaleDB when the extension is available (store.timescaledb).

  up         every migration not yet applied (--create: create the database first)
  down N     revert the last N migrations
  version    print the current version
  force V    set the version without running anything (after fixing a failed migration)`,
		Example:   "  mdingest migrate up --create\n  mdingest migrate down 1 --database-url postgres://...",
		ValidArgs: []string{"up", "down", "version", "force"},
		Args: func(_ *cobra.Command, args []string) error {
			_, _, err := parseMigrateArgs(args)
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			op, n, _ := parseMigrateArgs(args)
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			return migrate(cmd.Context(), e, cfg, op, n, create)
		},
	}
	cmd.Flags().BoolVar(&create, "create", false, "with up: create the database first if it does not exist")
	return cmd
}

func parseMigrateArgs(args []string) (string, int, error) {
	if len(args) == 0 {
		return "", 0, usagef("want a subcommand: up, down N, version or force V")
	}
	var n int
	switch args[0] {
	case "up", "version":
		if len(args) != 1 {
			return "", 0, usagef("%s takes no arguments", args[0])
		}
	case "down", "force":
		if len(args) != 2 {
			return "", 0, usagef("%s needs one number", args[0])
		}
		var err error
		n, err = strconv.Atoi(args[1])
		if err != nil || n < 0 || (args[0] == "down" && n == 0) {
			return "", 0, usagef("%s: %q is not a valid number", args[0], args[1])
		}
	default:
		return "", 0, usagef("unknown migrate subcommand %q (want up, down N, version or force V)", args[0])
	}
	return args[0], n, nil
}

func migrate(ctx context.Context, e *env, cfg config.Config, op string, n int, create bool) error {
	url := cfg.DatabaseURL.Reveal()
	if op == "up" && create {
		created, err := schema.CreateDatabase(ctx, url)
		if err != nil {
			return err
		}
		if created {
			e.logger.Info("created database", "url", cfg.DatabaseURL)
		}
	}
	m, err := schema.Open(ctx, url, schema.Mode(cfg.Store.TimescaleDB), e.logger)
	if err != nil {
		return err
	}
	switch op {
	case "up":
		err = m.Up()
	case "down":
		err = m.Down(n)
	case "force":
		err = m.Force(n)
	}
	v, dirty, verr := m.Version()
	variant := m.Variant()
	// Close before applying policies, which open their own connection.
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = verr
	}
	if err == nil && op == "up" {
		err = schema.ApplyPolicies(ctx, url, policies(cfg))
	}
	if err != nil {
		return err
	}
	state := ""
	if dirty {
		state = " dirty"
	}
	fmt.Fprintf(e.stdout, "version %d (%s)%s\n", v, variant, state)
	return nil
}

func policies(cfg config.Config) schema.Policies {
	p := schema.Policies{Retention: map[string]time.Duration{}, CompressAfter: map[string]time.Duration{}}
	for k, v := range cfg.Store.Retention {
		p.Retention[k] = v.D()
	}
	for k, v := range cfg.Store.CompressAfter {
		p.CompressAfter[k] = v.D()
	}
	return p
}
