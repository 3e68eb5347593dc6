package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/candlecsv"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/importer"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

type importFlags struct {
	exchange, symbol, timeframe string
	batch                       int
}

var impFlags importFlags

func init() {
	register(&command{
		name: "import",
		args: "FILE...",
		summary: "load candle CSV files (Binance public-data klines, or ts,open,high,low,close,volume;\n" +
			".zip and .gz read directly) through the daemon's checks and loader",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&impFlags.exchange, "exchange", "", "exchange id, e.g. binance (required)")
			fs.StringVar(&impFlags.symbol, "symbol", "", "unified symbol, e.g. BTC/USDT (required)")
			fs.StringVar(&impFlags.timeframe, "timeframe", "1m", "candle timeframe: 1m 5m 15m 1h 4h 1d")
			fs.IntVar(&impFlags.batch, "batch-size", 20_000, "rows per COPY batch")
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
	if !slices.Contains(config.Exchanges, ex) {
		return usagef("--exchange: unknown exchange %q (known: %s)", ex, strings.Join(config.Exchanges, ", "))
	}
	return nil
}

func runImport(ctx context.Context, e *env, fs *flag.FlagSet, files []string) error {
	f := impFlags
	if err := parseExchange(f.exchange); err != nil {
		return err
	}
	if f.symbol == "" {
		return usagef("--symbol is required")
	}
	sym, err := market.ParseSymbol(f.symbol)
	if err != nil {
		return usagef("--symbol: %v", err)
	}
	tf, err := market.ParseTimeframe(f.timeframe)
	if err != nil {
		return usagef("--timeframe: %v", err)
	}
	if f.batch < 1 {
		return usagef("--batch-size must be >= 1")
	}
	if len(files) == 0 {
		return usagef("no FILE given")
	}
	for _, p := range files {
		if _, err := os.Stat(p); err != nil {
			return usagef("%v", err)
		}
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := candlecsv.Options{Exchange: f.exchange, Symbol: sym, Timeframe: tf, Now: time.Now()}
	sum, err := importer.Run(ctx, st, files, opts, f.batch, e.logger)
	fmt.Fprintln(e.stdout, sum)
	if err != nil {
		return fmt.Errorf("import stopped: %w", err)
	}
	return nil
}

// openStore connects and checks the schema is migrated, so that a missing
// `mdingest migrate up` is named instead of surfacing as "relation does
// not exist".
func openStore(ctx context.Context, e *env, cfg config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL.Reveal(), store.Options{Logger: e.logger})
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
