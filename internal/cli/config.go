package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mdingest/mdingest/internal/daemon"
)

func newConfigCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration (defaults, file, environment, flags) as YAML, secrets masked",
		Long: `Prints the configuration the daemon would run with, as YAML: the defaults, then the file
(--config, $MDINGEST_CONFIG or ./mdingest.yaml), the environment, then the flags. An
exchanges: map in the file runs exactly those exchanges. Passwords in URLs and API
secrets are masked.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := e.loadConfig()
			if err != nil {
				return err
			}
			// Secrets marshal masked (config.Secret's MarshalText); base URLs and
			// rate limits are shown as the daemon would use them.
			enc := yaml.NewEncoder(e.stdout)
			enc.SetIndent(2)
			if err := enc.Encode(daemon.Effective(c)); err != nil {
				return fmt.Errorf("encoding the configuration: %w", err)
			}
			return enc.Close()
		},
	}
}
