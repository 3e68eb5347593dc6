package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/importer"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/store"
)

type importFlags struct {
	exchange, symbol, timeframe string
	batch, workers              int
}

var impFlags importFlags

func init() {
	register(&command{
		name: "import",
		args: "FILE|GLOB...",
		summary: "load candle CSV files (Binance public-data klines, or ts,open,high,low,close,volume;\n" +
			".zip and .gz read directly) through the daemon's checks and loader. Each file is checked\n" +
			"against the flags first (its Binance name's symbol and interval, the timeframe its rows\n" +
			"show); a mismatch exits 2 and stores nothing",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&impFlags.exchange, "exchange", "", "exchange id, e.g. binance (required)")
			fs.StringVar(&impFlags.symbol, "symbol", "", "unified symbol, e.g. BTC/USDT (default: each file's, from its Binance name SYMBOL-INTERVAL-...)")
			fs.StringVar(&impFlags.timeframe, "timeframe", "1m", "candle timeframe: 1m 5m 15m 1h 4h 1d")
			fs.IntVar(&impFlags.batch, "batch-size", importer.DefaultBatchSize, "rows per COPY batch")
			fs.IntVar(&impFlags.workers, "workers", runtime.NumCPU(), "files read at once")
		},
		run: runImport,
	})
}

// parseExchange validates --exchange, shared by import, fetch, backfill and
// gaps.
func parseExchange(ex string) error {
	if ex == "" {
		return usagef("--exchange is required")
	}
	if _, known := registry.Lookup(ex); !known {
		return usagef("--exchange: unknown exchange %q (known: %s)", ex, strings.Join(registry.IDs(), ", "))
	}
	return nil
}

func runImport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	f := impFlags
	if err := parseExchange(f.exchange); err != nil {
		return err
	}
	var sym market.Symbol
	if f.symbol != "" {
		var err error
		if sym, err = market.ParseSymbol(f.symbol); err != nil {
			return usagef("--symbol: %v", err)
		}
	}
	tf, err := market.ParseTimeframe(f.timeframe)
	if err != nil {
		return usagef("--timeframe: %v", err)
	}
	if f.batch < 1 {
		return usagef("--batch-size must be >= 1")
	}
	if f.workers < 1 {
		return usagef("--workers must be >= 1")
	}
	files, err := expandFiles(args)
	if err != nil {
		return err
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	checker, err := quality.NewChecker(daemon.QualityConfig(cfg))
	if err != nil {
		return usagef("%v", err)
	}
	// The batches in flight are the live heap; a soft limit keeps the
	// collector from letting garbage grow to as much again, so memory stays
	// flat however large the input (issue 10: under 256 MiB for 10M rows).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(importMemoryLimit))
	// Each loader may split a batch over two connections.
	st, err := openStoreWith(ctx, e, cfg, store.Options{Logger: e.logger, MaxConns: int32(2*(f.workers+1) + 1)})
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := importer.Run(ctx, st, files, importer.Options{
		Exchange: f.exchange, Symbol: sym, Timeframe: tf, Workers: f.workers, BatchSize: f.batch,
		Checker: checker, Progress: backfill.NewNamedProgress(e.stderr, e.logger, "import"), Logger: e.logger,
	})
	if errors.Is(err, importer.ErrMismatch) || errors.Is(err, importer.ErrNoSymbol) {
		return usagef("%v", err)
	}
	fmt.Fprint(e.stdout, sum)
	if err != nil {
		return fmt.Errorf("import stopped: %w", err)
	}
	return nil
}

// importMemoryLimit is the soft limit of the Go heap during an import.
const importMemoryLimit = 160 << 20

// expandFiles expands glob patterns (for shells that leave them, and for
// quoting many files) and checks that every file exists. Binance's
// .CHECKSUM files beside the archives are read with them, not as data.
func expandFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, usagef("no FILE given")
	}
	var files []string
	seen := map[string]bool{}
	for _, a := range args {
		matches := []string{a}
		if strings.ContainsAny(a, "*?[") {
			var err error
			if matches, err = filepath.Glob(a); err != nil {
				return nil, usagef("bad pattern %q: %v", a, err)
			}
			if len(matches) == 0 {
				return nil, usagef("no file matches %q", a)
			}
		}
		for _, m := range matches {
			if strings.HasSuffix(m, ".CHECKSUM") && m != a {
				continue
			}
			fi, err := os.Stat(m)
			if err != nil {
				return nil, usagef("%v", err)
			}
			if fi.IsDir() {
				return nil, usagef("%s is a directory; give its files, e.g. %q", m, filepath.Join(m, "*.zip"))
			}
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	return files, nil
}

// openStore connects and checks the schema is migrated, so that a missing
// `mdingest migrate up` is named instead of surfacing as "relation does
// not exist".
func openStore(ctx context.Context, e *env, cfg config.Config) (*store.Store, error) {
	return openStoreWith(ctx, e, cfg, store.Options{Logger: e.logger})
}

func openStoreWith(ctx context.Context, e *env, cfg config.Config, opts store.Options) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL.Reveal(), opts)
	if err != nil {
		return nil, err
	}
	var migrated bool
	if err := st.Pool().QueryRow(ctx, `SELECT to_regclass('market.candles') IS NOT NULL`).Scan(&migrated); err != nil {
		st.Close()
		return nil, fmt.Errorf("checking schema: %w", err)
	}
	if !migrated {
		st.Close()
		return nil, fmt.Errorf("database %s is not migrated: run `mdingest migrate up` first", cfg.DatabaseURL)
	}
	return st, nil
}
