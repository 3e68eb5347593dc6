package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

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

func newImportCmd(e *env) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import --exchange E [--symbol S] [--timeframe 1m] FILE|GLOB...",
		Short: "load candle CSV files (Binance public-data klines, or ts,open,high,low,close,volume; .zip and .gz read directly)",
		Long: `Loads candle CSV files through the daemon's checks and loader: Binance public-data kline
files (SYMBOL-INTERVAL-....csv/.zip), or any CSV with a header row ts,open,high,low,close,volume
(ts: RFC 3339, YYYY-MM-DD or epoch s, ms or µs). .zip and .gz are read directly; quoted globs
are expanded. Each file is checked against the flags first (its Binance name's symbol
and interval, the timeframe its rows show): a mismatch exits 2 and stores nothing.
Rows the checks refuse are counted by code and kept in ops.rejected_rows; a rerun
stores nothing twice.`,
		Example: "  mdingest import --exchange binance 'data/BTCUSDT-1m-2024-*.zip'\n" +
			"  mdingest import --exchange kraken --symbol BTC/USD --timeframe 1h candles.csv.gz",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runImport(cmd.Context(), e, f, args) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.exchange, "exchange", "", "exchange id, e.g. binance (required)")
	fs.StringVar(&f.symbol, "symbol", "", "unified symbol, e.g. BTC/USDT (default: each file's, from its Binance name SYMBOL-INTERVAL-...)")
	fs.StringVar(&f.timeframe, "timeframe", "1m", "candle timeframe: 1m 5m 15m 1h 4h 1d")
	fs.IntVar(&f.batch, "batch-size", 0, "rows per COPY batch (default: 16384 into TimescaleDB, 50000 into plain PostgreSQL)")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "files read at once")
	completeExchange(cmd)
	completeValues(cmd, "timeframe", timeframeNames...)
	return cmd
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

func runImport(ctx context.Context, e *env, f importFlags, args []string) error {
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
	if f.batch < 0 {
		return usagef("--batch-size must be >= 1, or 0 for the default")
	}
	if f.workers < 1 {
		return usagef("--workers must be >= 1")
	}
	files, err := expandFiles(args)
	if err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	checker, err := quality.NewChecker(daemon.QualityConfig(cfg))
	if err != nil {
		return usagef("%v", err)
	}
	// Each loader may split a batch over two connections.
	st, err := openStoreWith(ctx, e, cfg, store.Options{Logger: e.logger, MaxConns: int32(2*(f.workers+1) + 1)})
	if err != nil {
		return err
	}
	defer st.Close()
	// History is older than the compression policy's age: held back, the
	// policy does not compress the chunks being filled under the import.
	if moved, err := st.DeferCandleCompression(ctx); err != nil {
		e.logger.Warn("import: cannot hold back the compression policy; chunks it compresses meanwhile load slower", "err", err)
	} else if moved {
		e.logger.Info("import: compression policy of market.candles held back one schedule interval")
	}
	if f.batch == 0 {
		f.batch = st.BulkBatchRows(ctx)
	}
	// The batches in flight are the live heap, a fixed number of them; the
	// collector runs only when the heap reaches a soft limit above them, so
	// memory stays flat however large the input (issue 10: under 256 MiB for
	// 10M rows). Paced by the heap's growth instead (GOGC), it ran about
	// six times in an import's first 0.3 s and read the fresh pages of the
	// buffers before the import wrote them, so each first write cost a
	// copy and a TLB flush: a sixth of the client's CPU into PostgreSQL.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(importer.HeapBound(f.workers, f.batch) + importHeadroom))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	sum, err := importer.Run(ctx, st, files, importer.Options{
		Exchange: f.exchange, Symbol: sym, Timeframe: tf, Workers: f.workers, BatchSize: f.batch, Range: st.CandleRange(ctx),
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

// importHeadroom is the room above the batches' heap that an import's
// memory limit leaves: the garbage of a collection's interval, the
// connections' buffers, the runtime.
const importHeadroom = 64 << 20

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
	migrated, err := st.Migrated(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	if !migrated {
		st.Close()
		return nil, fmt.Errorf("database %s is not migrated: run `mdingest migrate up` first", cfg.DatabaseURL)
	}
	return st, nil
}
