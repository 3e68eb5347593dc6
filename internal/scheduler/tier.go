package scheduler

import (
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/priority"
)

// Tier is a job's schedule class: it fixes the interval (from the
// configuration's jobs section) and the priority of the job's requests.
type Tier string

// The tiers, most urgent first.
const (
	Realtime Tier = "realtime"
	High     Tier = "high"
	Medium   Tier = "medium"
	Low      Tier = "low"
	Daily    Tier = "daily"
)

// ParseTier validates a tier name.
func ParseTier(s string) (Tier, error) {
	switch t := Tier(s); t {
	case Realtime, High, Medium, Low, Daily:
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown tier %q (want realtime, high, medium, low or daily)", ErrInvalidJob, s)
}

// Priority is the rate-limiter priority of the tier's requests: a realtime
// order book must not queue behind a daily market refresh.
func (t Tier) Priority() priority.Priority {
	switch t {
	case Realtime:
		return priority.Critical
	case High:
		return priority.High
	case Medium:
		return priority.Medium
	}
	return priority.Low
}

// Intervals holds the interval of each tier (config jobs.realtime, ...).
type Intervals struct {
	Realtime, High, Medium, Low, Daily time.Duration
}

// Of returns the interval of t (0 for an unknown tier).
func (iv Intervals) Of(t Tier) time.Duration {
	switch t {
	case Realtime:
		return iv.Realtime
	case High:
		return iv.High
	case Medium:
		return iv.Medium
	case Low:
		return iv.Low
	case Daily:
		return iv.Daily
	}
	return 0
}
