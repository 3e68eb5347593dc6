package cli

import (
	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/market"
)

// What shell completion offers for the flags that take one of a few
// values (`mdingest completion bash|zsh|fish` prints the scripts).
var (
	kindNames      = []string{"markets", "ticker", "orderbook", "ohlcv", "trades"}
	timeframeNames = func() []string {
		var out []string
		for _, tf := range market.Timeframes() {
			out = append(out, string(tf))
		}
		return out
	}()
)

// completeValues offers values for flag name and no file names.
func completeValues(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// completeExchange offers the exchange ids for --exchange.
func completeExchange(cmd *cobra.Command) { completeValues(cmd, "exchange", registry.IDs()...) }
