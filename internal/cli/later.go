package cli

import (
	"context"
	"flag"
	"fmt"
)

// Subcommands whose issues have not landed yet: their flags are in place so
// --help documents them, and running them says so and exits 1.
func init() {
	for _, c := range []*command{
		{name: "backfill", summary: "fetch historical candles (and trades), resumable",
			flags: func(fs *flag.FlagSet) {
				fs.String("exchange", "", "exchange id")
				fs.String("symbols", "", "comma-separated unified symbols")
				fs.String("timeframe", "1m", "candle timeframe")
				fs.String("from", "", "start: RFC 3339 or YYYY-MM-DD")
				fs.String("to", "", "end: RFC 3339 or YYYY-MM-DD")
				fs.Bool("trades", false, "also fetch trades")
			}},
		{name: "gaps", summary: "list missing candle ranges; --fill backfills them",
			flags: func(fs *flag.FlagSet) {
				fs.String("exchange", "", "exchange id")
				fs.String("symbols", "", "comma-separated unified symbols")
				fs.String("timeframe", "1m", "candle timeframe")
				fs.String("from", "", "start: RFC 3339 or YYYY-MM-DD")
				fs.String("to", "", "end: RFC 3339 or YYYY-MM-DD")
				fs.Bool("fill", false, "backfill the gaps found")
			}},
		{name: "quality", summary: "quality summary per exchange, symbol and data type",
			flags: func(fs *flag.FlagSet) { fs.String("since", "24h", "how far back") }},
		{name: "status", summary: "scheduler jobs, circuit states, last success per exchange, cache backend"},
	} {
		c.run = func(context.Context, *env, *flag.FlagSet, []string) error {
			return fmt.Errorf("%s: %w", c.name, errNotImplemented)
		}
		register(c)
	}
}
