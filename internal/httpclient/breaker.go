package httpclient

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Breaker defaults.
const (
	DefaultFailureThreshold = 5
	DefaultOpenTimeout      = 30 * time.Second
)

// BreakerSettings configures the per-exchange circuit breaker. It counts a
// Get as failed only when the exchange looks unhealthy (network errors,
// timeouts, 5xx, bans), after its retries.
type BreakerSettings struct {
	// FailureThreshold is the number of consecutive failed Gets that opens
	// the circuit. Default DefaultFailureThreshold.
	FailureThreshold uint32
	// OpenTimeout is how long the circuit stays open before letting probe
	// requests through (half-open). Default DefaultOpenTimeout.
	OpenTimeout time.Duration
	// HalfOpenRequests is the number of probes allowed while half-open; as
	// many successes close the circuit. Default 1.
	HalfOpenRequests uint32
}

// State is the circuit breaker's state.
type State int

// States, in the order of the exchange_circuit_state gauge.
const (
	StateClosed State = iota
	StateHalfOpen
	StateOpen
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	default:
		return "unknown"
	}
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// callerGone wraps an error caused by the caller's context ending, so the
// breaker ignores it.
type callerGone struct{ err error }

func (e callerGone) Error() string { return e.err.Error() }
func (e callerGone) Unwrap() error { return e.err }

func newBreaker(exchange string, s BreakerSettings, log *slog.Logger) *gobreaker.CircuitBreaker[[]byte] {
	threshold := s.FailureThreshold
	if threshold == 0 {
		threshold = DefaultFailureThreshold
	}
	timeout := s.OpenTimeout
	if timeout <= 0 {
		timeout = DefaultOpenTimeout
	}
	return gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        exchange,
		MaxRequests: max(s.HalfOpenRequests, 1),
		Timeout:     timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsSuccessful: func(err error) bool {
			return err == nil || !breakerFailure(err)
		},
		// Rate limits are handled by the limiter's freeze, and a caller
		// giving up says nothing about the exchange.
		IsExcluded: func(err error) bool {
			var gone callerGone
			return errors.As(err, &gone) || categorize(err) == CategoryRateLimited
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			// gobreaker's hook has no context.
			log.Log(context.Background(), level, "circuit breaker state changed",
				"from", fromGobreaker(from).String(), "to", fromGobreaker(to).String())
		},
	})
}
