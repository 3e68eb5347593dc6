package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/report"
	"github.com/mdingest/mdingest/internal/store"
)

// Output formats of -o/--output.
const (
	outTable = "table"
	outCSV   = "csv"
	outJSON  = "json"
)

// parseOutput checks -o against the formats a command writes.
func parseOutput(got string, want ...string) error {
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	return usagef("--output: want %s, got %q", orList(want), got)
}

// orList is "a, b or c".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, v := range s[1 : len(s)-1] {
		out += ", " + v
	}
	return out + " or " + s[len(s)-1]
}

type qualityFlags struct {
	since, exchange, symbol, output string
}

func newQualityCmd(e *env) *cobra.Command {
	var f qualityFlags
	cmd := &cobra.Command{
		Use:   "quality [--since 24h] [--exchange E] [--symbol S] [-o table|csv|json]",
		Short: "quality summary per exchange, symbol and data type, from ops.quality_reports",
		Long: `Summarises the quality reports of the checked batches (ops.quality_reports) per exchange,
symbol and data type since --since: batches, average and lowest score, batches that
failed, rows, rows rejected by the checks, and conflicts (final rows stored before with
other values). Candle reports are per timeframe (ohlcv:1m).

-o csv and -o json give the same columns for scripts and notebooks.`,
		Example: "  mdingest quality --since 7d --exchange binance --symbol BTC/USDT\n  mdingest quality -o csv > quality.csv",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runQuality(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.since, "since", "24h", "how far back, e.g. 1h, 24h, 7d")
	fs.StringVar(&f.exchange, "exchange", "", "only this exchange")
	fs.StringVar(&f.symbol, "symbol", "", "only this unified symbol, e.g. BTC/USDT")
	fs.StringVarP(&f.output, "output", "o", outTable, "output format: table, csv or json")
	completeExchange(cmd)
	completeValues(cmd, "output", outTable, outCSV, outJSON)
	return cmd
}

func runQuality(ctx context.Context, e *env, f qualityFlags) error {
	since, err := config.ParseDuration(f.since)
	if err != nil || since <= 0 {
		return usagef("--since: want a positive duration such as 24h or 7d, got %q", f.since)
	}
	filter := store.QualityFilter{Since: time.Now().Add(-since.D())}
	if f.exchange != "" {
		if err := parseExchange(f.exchange); err != nil {
			return err
		}
		filter.Exchange = f.exchange
	}
	if f.symbol != "" {
		sym, err := market.ParseSymbol(f.symbol)
		if err != nil {
			return usagef("--symbol: %v", err)
		}
		filter.Symbol = string(sym)
	}
	if err := parseOutput(f.output, outTable, outCSV, outJSON); err != nil {
		return err
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
	rows, err := st.QualitySummaries(ctx, filter)
	if err != nil {
		return err
	}
	switch f.output {
	case outCSV:
		return report.RenderCSV(e.stdout, rows)
	case outJSON:
		return report.RenderJSON(e.stdout, rows)
	}
	return report.Render(e.stdout, rows)
}
