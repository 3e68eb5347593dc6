package httpclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
)

// Sentinels. A *StatusError matches ErrRateLimited or ErrBanned through
// errors.Is according to its category.
var (
	ErrRateLimited  = errors.New("rate limited")
	ErrBanned       = errors.New("banned by the exchange")
	ErrCircuitOpen  = errors.New("circuit breaker open")
	ErrBodyTooLarge = errors.New("response body too large")
	// ErrFrozen: the exchange is frozen (ban, Retry-After) for longer than
	// RetryPolicy.MaxRetryAfter, so the request fails instead of waiting.
	ErrFrozen         = errors.New("exchange frozen")
	ErrInvalidOptions = errors.New("invalid http client options")

	// Failures that another attempt cannot fix.
	errBuildingRequest = errors.New("building request")
	errInvalidJSON     = errors.New("response body is not valid JSON")
	errInsecureURL     = errors.New("only https is allowed, or plain http to a loopback host (127.0.0.0/8, ::1, localhost)")
	errTooManyRedirect = errors.New("too many redirects")
)

// Category classifies a failed attempt, for retries, the breaker, metrics
// and ops.request_metrics.
type Category string

// Categories. The empty category means success.
const (
	CategoryNetwork     Category = "network"      // connection, TLS, reading the body
	CategoryTimeout     Category = "timeout"      // the attempt's deadline passed
	CategoryRateLimited Category = "rate_limited" // 429, or a rate limit reported in the body
	CategoryBanned      Category = "banned"       // 418: the IP is banned for a while
	CategoryServer      Category = "server"       // 5xx
	CategoryClient      Category = "client"       // other 4xx, or an error reported in the body
	CategoryDecode      Category = "decode"       // a response we cannot take (too large, not JSON)
	// CategoryCanceled: the caller's context ended; never retried, never
	// counted by the breaker.
	CategoryCanceled Category = "canceled"
	// CategoryCircuitOpen: refused without a request because the breaker is
	// open. Used in metrics only: no attempt is made.
	CategoryCircuitOpen Category = "circuit_open"
)

// snippetLimit caps the body kept in a StatusError.
const snippetLimit = 512

// StatusError is a response the exchange refused: a non-2xx status, or a
// 2xx body that the exchange's CheckBody rejected (then Err is its error).
type StatusError struct {
	Status     int
	Category   Category
	RetryAfter time.Duration // from the Retry-After header; 0 if absent
	Body       string        // the start of the body, at most 512 bytes
	Err        error         // CheckBody's error, if that is what failed
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("HTTP %d with an error in the body (%s): %v", e.Status, e.Category, e.Err)
	}
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d (%s)", e.Status, e.Category)
	}
	return fmt.Sprintf("HTTP %d (%s): %s", e.Status, e.Category, e.Body)
}

func (e *StatusError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrRateLimited) and errors.Is(err, ErrBanned) work
// on status errors.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.Category == CategoryRateLimited
	case ErrBanned:
		return e.Category == CategoryBanned
	}
	return false
}

// Retryable reports whether the same request may succeed later: rate limits
// and server errors are; bans and client errors are not.
func (e *StatusError) Retryable() bool {
	return e.Category == CategoryRateLimited || e.Category == CategoryServer
}

// statusCategory maps an HTTP status to its category.
func statusCategory(status int) Category {
	switch {
	case status == 418:
		return CategoryBanned
	case status == 429:
		return CategoryRateLimited
	case status >= 500:
		return CategoryServer
	default:
		return CategoryClient
	}
}

// bodyCategory maps a CheckBody error to its category.
func bodyCategory(err error) Category {
	if errors.Is(err, exchange.ErrBodyRateLimited) {
		return CategoryRateLimited
	}
	return CategoryClient
}

// categorize returns the category of an attempt's error.
func categorize(err error) Category {
	var se *StatusError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return se.Category
	case errors.Is(err, ErrFrozen):
		return CategoryRateLimited
	case errors.Is(err, ErrBodyTooLarge):
		return CategoryDecode
	case errors.Is(err, errBuildingRequest), errors.Is(err, errInsecureURL), errors.Is(err, errTooManyRedirect):
		return CategoryClient
	case errors.Is(err, context.Canceled):
		return CategoryCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return CategoryTimeout
	default:
		return CategoryNetwork
	}
}

// retryable reports whether an attempt's error is worth another attempt.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	if isCertificateError(err) {
		return false
	}
	switch categorize(err) {
	case CategoryNetwork, CategoryTimeout:
		return true
	default:
		return false
	}
}

// isCertificateError: a certificate that fails verification will fail
// again.
func isCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// breakerFailure reports whether an error says the exchange is unhealthy:
// it cannot be reached, times out, fails, or bans us. Client errors and
// rate limits do not.
func breakerFailure(err error) bool {
	switch categorize(err) {
	case CategoryNetwork, CategoryTimeout, CategoryServer, CategoryBanned:
		return true
	default:
		return false
	}
}
