package exchange

import "errors"

// Errors a Spec.CheckBody reports for problems the exchange signals inside a
// 2xx body. The HTTP layer maps ErrBodyRateLimited to its own rate-limited
// handling (back off, retry later); ErrBodyError is a permanent API error.
var (
	ErrBodyRateLimited = errors.New("rate limited (reported in body)")
	ErrBodyError       = errors.New("error reported in body")
)
