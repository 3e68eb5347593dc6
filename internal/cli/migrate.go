package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/schema"
)

var migrateCreate bool

func init() {
	register(&command{
		name:    "migrate",
		args:    "up | down N | version | force V",
		summary: "apply the embedded schema migrations to --database-url",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&migrateCreate, "create", false, "with up: create the database first if it does not exist")
		},
		run: runMigrate,
	})
}

func runMigrate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: up, down N, version or force V")
	}
	var n int
	switch args[0] {
	case "up", "version":
		if len(args) != 1 {
			return usagef("%s takes no arguments", args[0])
		}
	case "down", "force":
		if len(args) != 2 {
			return usagef("%s needs one number", args[0])
		}
		var err error
		n, err = strconv.Atoi(args[1])
		if err != nil || n < 0 || (args[0] == "down" && n == 0) {
			return usagef("%s: %q is not a valid number", args[0], args[1])
		}
	default:
		return usagef("unknown migrate subcommand %q (want up, down N, version or force V)", args[0])
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	return migrate(ctx, e, cfg, args[0], n)
}

func migrate(ctx context.Context, e *env, cfg config.Config, op string, n int) error {
	url := cfg.DatabaseURL.Reveal()
	if op == "up" && migrateCreate {
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
