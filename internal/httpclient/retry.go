package httpclient

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Retry defaults.
const (
	DefaultMaxAttempts     = 4
	DefaultInitialInterval = 250 * time.Millisecond
	DefaultMaxInterval     = 10 * time.Second
	DefaultMultiplier      = 2
	DefaultJitter          = 0.5
	DefaultMaxElapsed      = 2 * time.Minute
	DefaultMaxRetryAfter   = time.Minute
)

// RetryPolicy bounds the retries of one Get: exponential backoff with
// jitter, at most MaxAttempts attempts within MaxElapsed.
type RetryPolicy struct {
	MaxAttempts     int           // attempts including the first; default 4; 1 disables retries
	InitialInterval time.Duration // first backoff; default 250ms
	MaxInterval     time.Duration // largest backoff; default 10s
	Multiplier      float64       // growth per retry; default 2
	// Jitter is backoff's randomization factor: each wait is drawn from
	// interval*(1±Jitter). Default 0.5; negative: none.
	Jitter float64
	// MaxElapsed stops retrying once this much time has passed since the
	// first attempt. Default 2m.
	MaxElapsed time.Duration
	// MaxRetryAfter caps the Retry-After a request waits for: a longer one
	// fails the request at once (the exchange stays frozen for the whole
	// time, so other requests wait too). Default 1m.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = DefaultInitialInterval
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = DefaultMaxInterval
	}
	if p.Multiplier < 1 {
		p.Multiplier = DefaultMultiplier
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = DefaultJitter
	case p.Jitter < 0:
		p.Jitter = 0
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// backoff returns a fresh backoff for one Get.
func (p RetryPolicy) backoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.InitialInterval),
		backoff.WithMaxInterval(p.MaxInterval),
		backoff.WithMultiplier(p.Multiplier),
		backoff.WithRandomizationFactor(p.Jitter),
		backoff.WithMaxElapsedTime(p.MaxElapsed),
	)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. Missing or malformed: 0.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Bound before multiplying so absurd values cannot overflow.
		return time.Duration(min(secs, int64(30*24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
