package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestConfigCommand: `mdingest config` prints what the daemon would run
// with: the file's exchanges exactly, real APIs and published limits where
// the file sets none, flags over environment over file, secrets masked.
func TestConfigCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mdingest.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`exchanges:
  binance: {base_url: "http://127.0.0.1:8700/binance", rate_limit: {limit: 1200}}
  kraken: {}
jobs: {high: 10s}
`), 0o600))
	code, out, errOut := runCLI(t, map[string]string{
		"DATABASE_URL": "postgres://u:hunter2@db:5432/x", "REDIS_URL": "redis://:sekrit@cache:6379/0",
	}, "config", "--config", path, "--log-level", "debug")
	require.Equal(t, ExitOK, code, errOut)
	require.NotContains(t, out, "hunter2")
	require.NotContains(t, out, "sekrit")

	var got struct {
		DatabaseURL string `yaml:"database_url"`
		RedisURL    string `yaml:"redis_url"`
		LogLevel    string `yaml:"log_level"`
		Exchanges   map[string]struct {
			Enabled   bool   `yaml:"enabled"`
			BaseURL   string `yaml:"base_url"`
			RateLimit struct {
				Limit  float64 `yaml:"limit"`
				Window string  `yaml:"window"`
			} `yaml:"rate_limit"`
		} `yaml:"exchanges"`
		Jobs struct {
			High string `yaml:"high"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &got), out)
	require.Equal(t, "postgres://u:xxxxx@db:5432/x", got.DatabaseURL)
	require.Equal(t, "redis://:xxxxx@cache:6379/0", got.RedisURL)
	require.Equal(t, "debug", got.LogLevel, "flags win")
	require.Equal(t, "10s", got.Jobs.High)
	var enabled []string
	for id, ex := range got.Exchanges {
		if ex.Enabled {
			enabled = append(enabled, id)
		}
	}
	require.ElementsMatch(t, []string{"binance", "kraken"}, enabled, "exactly the file's exchanges")
	require.Equal(t, "http://127.0.0.1:8700/binance", got.Exchanges["binance"].BaseURL)
	require.Equal(t, 1200.0, got.Exchanges["binance"].RateLimit.Limit, "the override")
	require.Equal(t, "https://api.kraken.com", got.Exchanges["kraken"].BaseURL, "the real API when none is set")
	require.Positive(t, got.Exchanges["kraken"].RateLimit.Limit, "the published limit when none is set")

	code, _, errOut = runCLI(t, nil, "config", "--config", path, "extra")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, errOut, "extra")
}
