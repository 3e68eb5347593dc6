package cli

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/export"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

type exportFlags struct {
	rangeFlags
	kind, timeframe, output, file string
}

func newExportCmd(e *env) *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export --exchange E [--symbols S,...] [--kind ohlcv|trades|ticker|orderbook] [--from T --to T | --days N] [-o csv|parquet] [--file PATH]",
		Short: "write stored candles, trades, tickers or top of book as CSV or Parquet, for notebooks",
		Long: `Writes what the database stores for one exchange, as CSV (the default) or Parquet, to
--file or stdout: candles of one --timeframe (ohlcv), trades, tickers, or the top of the
order book (orderbook: best bid and ask with their amounts). Rows are ordered by symbol
and time and stream through (memory stays flat however long the range).

Numbers are exactly as stored: numeric text in CSV and in Parquet (UTF-8 string
columns), never floats; times are UTC (RFC 3339 in CSV, TIMESTAMP(MICROS, UTC) in
Parquet); NULL is empty in CSV. A --file ending in .parquet writes Parquet, one ending
in .gz gzipped CSV; the file appears only once it is complete.

--symbols takes globs over market.symbols ('*/USDT'), as backfill does (--symbol is the
same flag). Without --symbols every symbol; without --from or --days all of time.`,
		Example: "  mdingest export --exchange binance --symbols BTC/USDT --timeframe 1h --days 30 --file btc-1h.csv\n" +
			"  mdingest export --exchange binance --symbols '*/USDT' --kind trades --from 2024-01-01 --to 2024-01-02 --file trades.parquet\n" +
			"  mdingest export --exchange kraken --kind ticker --days 1 | head",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExport(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.StringVar(&f.kind, "kind", "ohlcv", "ohlcv, trades, ticker or orderbook (top of book)")
	fs.StringVar(&f.timeframe, "timeframe", "1m", "with --kind ohlcv: the candles' timeframe, 1m 5m 15m 1h 4h 1d")
	fs.StringVarP(&f.output, "output", "o", "", "format: csv or parquet (default: parquet for a --file ending in .parquet, else csv)")
	fs.StringVar(&f.file, "file", "", "write to this file instead of stdout (.gz: gzipped CSV)")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "symbol" {
			name = "symbols"
		}
		return pflag.NormalizedName(name)
	})
	completeExchange(cmd)
	completeValues(cmd, "kind", "ohlcv", "trades", "ticker", "orderbook")
	completeValues(cmd, "timeframe", timeframeNames...)
	completeValues(cmd, "output", string(export.CSV), string(export.Parquet))
	return cmd
}

func runExport(ctx context.Context, e *env, f exportFlags) error {
	p, err := f.parse(false, false, time.Now())
	if err != nil {
		return err
	}
	kind, err := market.ParseDataType(f.kind)
	if err != nil || kind == market.TypeMarkets {
		return usagef("--kind %q: want ohlcv, trades, ticker or orderbook", f.kind)
	}
	q := store.ExportQuery{Kind: kind, Exchange: p.exchange, From: p.from, To: p.to}
	if kind == market.TypeOHLCV {
		tf, err := market.ParseTimeframe(f.timeframe)
		if err != nil {
			return usagef("--timeframe: %v", err)
		}
		q.Timeframe = tf
	} else if e.set("timeframe") {
		return usagef("--timeframe applies to --kind ohlcv, not %s", kind)
	}
	gz := strings.HasSuffix(f.file, ".gz")
	format := export.Format(f.output)
	switch {
	case format == "" && strings.HasSuffix(strings.TrimSuffix(f.file, ".gz"), ".parquet"):
		format = export.Parquet
	case format == "":
		format = export.CSV
	case format != export.CSV && format != export.Parquet:
		return usagef("--output: want csv or parquet, got %q", f.output)
	}
	if gz && format == export.Parquet {
		return usagef("--file %s: Parquet compresses its own columns; drop the .gz", f.file)
	}
	if f.file == "" && format == export.Parquet && backfill.IsTerminal(e.stdout) {
		return usagef("--output parquet: stdout is a terminal; give --file or redirect it")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := resolveSymbols(ctx, st, &p); err != nil {
		return err
	}
	q.Symbols = p.symbols

	dest := "stdout"
	w, commit, abort := io.Writer(e.stdout), func() error { return nil }, func() {}
	if f.file != "" {
		dest = f.file
		if w, commit, abort, err = createAtomic(f.file); err != nil {
			return err
		}
	}
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		w = zw
	}
	n, err := export.Write(ctx, st, q, format, w)
	if zw != nil {
		err = errors.Join(err, zw.Close())
	}
	if err == nil {
		err = commit()
	}
	if err != nil {
		abort()
		return err
	}
	fmt.Fprintf(e.stderr, "exported %d %s rows of %s to %s (%s)\n", n, kind, p.exchange, dest, format)
	return nil
}

// createAtomic writes path through a temporary file beside it: commit
// renames it into place, abort removes it, so a failed or interrupted
// export never leaves a truncated file under the asked name.
func createAtomic(path string) (w io.Writer, commit func() error, abort func(), err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return nil, nil, nil, usagef("--file: %v", err)
	}
	// CreateTemp makes it private; an export is as readable as any new file.
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return nil, nil, nil, err
	}
	commit = func() error {
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), path)
	}
	abort = func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	return tmp, commit, abort, nil
}
