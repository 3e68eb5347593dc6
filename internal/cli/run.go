package cli

import (
	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/daemon"
)

func newRunCmd(e *env) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "the daemon: scheduler, fetch -> validate -> cache -> store, HTTP on --listen",
		Long: `The daemon: the scheduler's jobs fetch each enabled exchange's markets, tickers, order
books, candles and trades; every row is checked, cached in Redis (or memory) and written
to the database (spooled to disk while it is away).

HTTP on --listen: /metrics (Prometheus, incl. mdingest_build_info), /healthz, /readyz and
/status (what 'mdingest status' shows). SIGTERM or SIGINT stops it after draining the
rows in flight (exit 0 after SIGTERM, 130 after SIGINT).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			if e.set("listen") {
				cfg.Listen = listen
				if err := cfg.Validate(); err != nil {
					return err
				}
			}
			return daemon.Run(cmd.Context(), cfg, e.logger)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP listen address for /metrics /healthz /readyz /status (default: the configuration's listen, 127.0.0.1:9108)")
	return cmd
}
