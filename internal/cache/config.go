package cache

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Config holds the TTLs of cached values; the YAML names are those under
// `cache.ttl` in mdingest.yaml.
type Config struct {
	Ticker    time.Duration                      `yaml:"ticker"`
	OrderBook time.Duration                      `yaml:"orderbook"`
	OHLCV     map[market.Timeframe]time.Duration `yaml:"ohlcv"` // per timeframe: the latest candle
}

// DefaultConfig returns TTLs a little longer than the default fetch
// intervals, so a value disappears once its job has missed a round or two:
// from 5s for order books to 1h for daily candles.
func DefaultConfig() Config {
	return Config{
		Ticker:    30 * time.Second,
		OrderBook: 5 * time.Second,
		OHLCV: map[market.Timeframe]time.Duration{
			market.TF1m:  2 * time.Minute,
			market.TF5m:  10 * time.Minute,
			market.TF15m: 30 * time.Minute,
			market.TF1h:  time.Hour,
			market.TF4h:  time.Hour,
			market.TF1d:  time.Hour,
		},
	}
}

// Validate names the first bad key.
func (c Config) Validate() error {
	if c.Ticker <= 0 {
		return fmt.Errorf("%w: cache.ttl.ticker = %s (want > 0)", ErrInvalidConfig, c.Ticker)
	}
	if c.OrderBook <= 0 {
		return fmt.Errorf("%w: cache.ttl.orderbook = %s (want > 0)", ErrInvalidConfig, c.OrderBook)
	}
	for _, tf := range slices.Sorted(maps.Keys(c.OHLCV)) {
		if _, err := market.ParseTimeframe(string(tf)); err != nil {
			return fmt.Errorf("%w: cache.ttl.ohlcv.%s: %w", ErrInvalidConfig, tf, err)
		}
		if ttl := c.OHLCV[tf]; ttl <= 0 {
			return fmt.Errorf("%w: cache.ttl.ohlcv.%s = %s (want > 0)", ErrInvalidConfig, tf, ttl)
		}
	}
	for _, tf := range market.Timeframes() {
		if _, ok := c.OHLCV[tf]; !ok {
			return fmt.Errorf("%w: cache.ttl.ohlcv.%s is missing", ErrInvalidConfig, tf)
		}
	}
	return nil
}
