// Command mdingest is the market-data warehouse ingester. It only wires:
// everything happens in internal/cli.
package main

import (
	"context"
	"os"

	"github.com/mdingest/mdingest/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
