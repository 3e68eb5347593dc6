package quality

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	sum := 0.0
	for _, m := range Metrics() {
		sum += cfg.Weights.Get(m)
	}
	require.InDelta(t, 1, sum, 1e-12)
	require.Equal(t, 0.98, cfg.Thresholds.Accuracy)
	require.Equal(t, 0.99, cfg.Thresholds.Validity)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"threshold above 1", func(c *Config) { c.Thresholds.Accuracy = 1.5 }, "quality.thresholds.accuracy"},
		{"threshold negative", func(c *Config) { c.Thresholds.Uniqueness = -0.1 }, "quality.thresholds.uniqueness"},
		{"weight negative", func(c *Config) { c.Weights.Timeliness = -0.1; c.Weights.Validity += 0.1 }, "quality.weights.timeliness"},
		{"weights not summing to 1", func(c *Config) { c.Weights.Completeness = 0.5 }, "quality.weights"},
		{"negative future tolerance", func(c *Config) { c.FutureTolerance = -time.Second }, "quality.future_tolerance"},
		{"negative max age", func(c *Config) { c.MaxAge[market.TypeTicker] = -time.Second }, "quality.max_age.ticker"},
		{"max age of markets", func(c *Config) { c.MaxAge[market.TypeMarkets] = time.Second }, "quality.max_age.markets"},
		{"zero spread", func(c *Config) { c.MaxSpread = 0 }, "quality.max_spread"},
		{"zero k", func(c *Config) { c.OutlierK = 0 }, "quality.outlier_k"},
		{"MAD floor of 1", func(c *Config) { c.OutlierMADFloor = 1 }, "quality.outlier_mad_floor"},
		{"no history", func(c *Config) { c.HistoryLength = 0 }, "quality.history_length"},
		{"min history above length", func(c *Config) { c.OutlierMinHistory = c.HistoryLength + 1 }, "quality.outlier_min_history"},
		{"zero window", func(c *Config) { c.HistoryWindow = 0 }, "quality.history_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Contains(t, err.Error(), tt.wantKey+" =")
			_, err = NewChecker(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestConfigWeightsToleratesDecimalRounding(t *testing.T) {
	cfg := DefaultConfig()
	// 0.1 + 0.2 != 0.3 in binary; a YAML file saying so must still pass.
	cfg.Weights = Scores{Completeness: 0.1, Accuracy: 0.2, Consistency: 0.3, Timeliness: 0.1, Validity: 0.2, Uniqueness: 0.1}
	require.NoError(t, cfg.Validate())
}

func TestMaxAgeFor(t *testing.T) {
	cfg := DefaultConfig()
	require.Equal(t, time.Minute, cfg.MaxAgeFor(market.TypeOrderBook))
	require.Zero(t, cfg.MaxAgeFor(market.TypeMarkets))
}
