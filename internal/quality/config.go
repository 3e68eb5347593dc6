package quality

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// ErrInvalidConfig is wrapped by every Config.Validate error.
var ErrInvalidConfig = errors.New("invalid quality configuration")

// Metric is one of the six scores of a Report.
type Metric string

// The metrics, in the column order of ops.quality_reports.
const (
	Completeness Metric = "completeness"
	Accuracy     Metric = "accuracy"
	Consistency  Metric = "consistency"
	Timeliness   Metric = "timeliness"
	Validity     Metric = "validity"
	Uniqueness   Metric = "uniqueness"
)

// Metrics lists the metrics in column order.
func Metrics() []Metric {
	return []Metric{Completeness, Accuracy, Consistency, Timeliness, Validity, Uniqueness}
}

// Scores holds one number per metric: thresholds, weights, or a report's values.
type Scores struct {
	Completeness float64 `yaml:"completeness" json:"completeness"`
	Accuracy     float64 `yaml:"accuracy" json:"accuracy"`
	Consistency  float64 `yaml:"consistency" json:"consistency"`
	Timeliness   float64 `yaml:"timeliness" json:"timeliness"`
	Validity     float64 `yaml:"validity" json:"validity"`
	Uniqueness   float64 `yaml:"uniqueness" json:"uniqueness"`
}

// Get returns the value for m (0 for an unknown metric).
func (s Scores) Get(m Metric) float64 {
	if f := s.field(m); f != nil {
		return *f
	}
	return 0
}

func (s *Scores) set(m Metric, v float64) {
	if f := s.field(m); f != nil {
		*f = v
	}
}

// field is where s holds m (nil for an unknown metric).
func (s *Scores) field(m Metric) *float64 {
	switch m {
	case Completeness:
		return &s.Completeness
	case Accuracy:
		return &s.Accuracy
	case Consistency:
		return &s.Consistency
	case Timeliness:
		return &s.Timeliness
	case Validity:
		return &s.Validity
	case Uniqueness:
		return &s.Uniqueness
	}
	return nil
}

// Config tunes the checks. The YAML names are those under the `quality:`
// key of mdingest.yaml; Validate reports errors with those names.
type Config struct {
	// Thresholds: a report passes when every metric is at least its threshold.
	Thresholds Scores `yaml:"thresholds"`
	// Weights of the score, non-negative and summing to 1.
	Weights Scores `yaml:"weights"`
	// FutureTolerance is how far ahead of our clock a timestamp may be
	// (exchange clocks and ours disagree a little); beyond it a row is rejected.
	FutureTolerance time.Duration `yaml:"future_tolerance"`
	// MaxAge is the default freshness bound per data type, for callers to
	// pass to the Check methods (0 turns the check off). For tickers and
	// books it applies to every row; for candles (measured from the candle's
	// end) and trades to the newest row of the batch.
	MaxAge map[market.DataType]time.Duration `yaml:"max_age"`
	// MaxSpread is the widest sane (ask-bid)/mid; wider lowers consistency.
	MaxSpread float64 `yaml:"max_spread"`
	// OutlierK: a price is an outlier when |p - median| > OutlierK * MAD over
	// the recent history (raw MAD, not scaled to a standard deviation).
	OutlierK float64 `yaml:"outlier_k"`
	// OutlierMADFloor is the least MAD used, as a fraction of the median, so
	// a flat history (MAD 0) does not flag every tick.
	OutlierMADFloor float64 `yaml:"outlier_mad_floor"`
	// OutlierMinHistory is how many recent prices are needed before the
	// outlier check applies.
	OutlierMinHistory int `yaml:"outlier_min_history"`
	// HistoryLength is how many recent prices are kept per exchange, symbol,
	// data type (and timeframe).
	HistoryLength int `yaml:"history_length"`
	// HistoryWindow: only history within this time of a row counts for it
	// (tickers, books, trades); for candles the window is HistoryLength
	// candles. It keeps a backfill of old prices and the live feed of the
	// same symbol from judging each other.
	HistoryWindow time.Duration `yaml:"history_window"`
}

// DefaultConfig returns the built-in defaults.
//
// Weights: completeness, accuracy and validity 0.20 each (a missing, wrong
// or impossible value is what hurts analyses most), consistency and
// timeliness 0.15, uniqueness 0.10 (duplicates are rejected and the store is
// idempotent, so they cost least).
func DefaultConfig() Config {
	return Config{
		Thresholds: Scores{
			Completeness: 0.95, Accuracy: 0.98, Consistency: 0.90,
			Timeliness: 0.95, Validity: 0.99, Uniqueness: 0.98,
		},
		Weights: Scores{
			Completeness: 0.20, Accuracy: 0.20, Consistency: 0.15,
			Timeliness: 0.15, Validity: 0.20, Uniqueness: 0.10,
		},
		FutureTolerance: 10 * time.Second,
		MaxAge: map[market.DataType]time.Duration{
			market.TypeTicker:    2 * time.Minute,
			market.TypeOrderBook: time.Minute,
			market.TypeOHLCV:     5 * time.Minute,
			market.TypeTrades:    time.Hour,
		},
		MaxSpread:         0.10,
		OutlierK:          10,
		OutlierMADFloor:   0.005,
		OutlierMinHistory: 10,
		HistoryLength:     50,
		HistoryWindow:     15 * time.Minute,
	}
}

// MaxAgeFor returns the configured freshness bound for dt (0: unchecked).
func (c Config) MaxAgeFor(dt market.DataType) time.Duration { return c.MaxAge[dt] }

// weightSumTolerance absorbs decimal weights like 0.1+0.2 in YAML.
const weightSumTolerance = 1e-6

// Validate checks every field and names the first bad one by its YAML path.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("%w: quality.%s = %v (want %s)", ErrInvalidConfig, key, v, want)
	}
	sum := 0.0
	for _, m := range Metrics() {
		if t := c.Thresholds.Get(m); !(t >= 0 && t <= 1) {
			return bad("thresholds."+string(m), t, "0..1")
		}
		w := c.Weights.Get(m)
		if !(w >= 0 && w <= 1) {
			return bad("weights."+string(m), w, "0..1")
		}
		sum += w
	}
	if math.Abs(sum-1) > weightSumTolerance {
		return bad("weights", fmt.Sprintf("sum %g", sum), "weights summing to 1")
	}
	if c.FutureTolerance < 0 {
		return bad("future_tolerance", c.FutureTolerance, ">= 0")
	}
	for _, dt := range slices.Sorted(maps.Keys(c.MaxAge)) {
		age := c.MaxAge[dt]
		switch dt {
		case market.TypeTicker, market.TypeOrderBook, market.TypeOHLCV, market.TypeTrades:
		default:
			return bad("max_age."+string(dt), age, "keys ticker, orderbook, ohlcv or trades")
		}
		if age < 0 {
			return bad("max_age."+string(dt), age, ">= 0, 0 turns the check off")
		}
	}
	switch {
	case !(c.MaxSpread > 0):
		return bad("max_spread", c.MaxSpread, "> 0, a fraction of the mid price")
	case !(c.OutlierK > 0) || math.IsInf(c.OutlierK, 0):
		return bad("outlier_k", c.OutlierK, "> 0")
	case !(c.OutlierMADFloor >= 0 && c.OutlierMADFloor < 1):
		return bad("outlier_mad_floor", c.OutlierMADFloor, "0..1, a fraction of the median price")
	case c.HistoryLength < 1:
		return bad("history_length", c.HistoryLength, ">= 1")
	case c.OutlierMinHistory < 1 || c.OutlierMinHistory > c.HistoryLength:
		return bad("outlier_min_history", c.OutlierMinHistory, fmt.Sprintf("1..history_length (%d)", c.HistoryLength))
	case c.HistoryWindow <= 0:
		return bad("history_window", c.HistoryWindow, "> 0")
	}
	return nil
}
