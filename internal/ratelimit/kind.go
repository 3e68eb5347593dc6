package ratelimit

import "fmt"

// Kind is how an exchange counts its budget.
type Kind string

// The kinds of window.
const (
	// Fixed: calendar windows of Window aligned to the exchange's clock (the
	// Unix epoch on the server), each holding at most Limit; Binance's
	// REQUEST_WEIGHT per minute. The default.
	Fixed Kind = "fixed"
	// Sliding: any span of Window holds at most Limit. Where an exchange
	// does not say whether its window is fixed or rolling this is the safe
	// reading: it also keeps within a fixed window.
	Sliding Kind = "sliding"
	// Bucket: a token bucket holding Burst units, refilled at Limit per
	// Window (Coinbase's lazy-fill bucket).
	Bucket Kind = "bucket"
)

// Kinds lists the valid kinds.
var Kinds = []Kind{Fixed, Sliding, Bucket}

// ParseKind reads a kind; "" is Fixed.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case "":
		return Fixed, nil
	case Fixed, Sliding, Bucket:
		return k, nil
	}
	return "", fmt.Errorf("%w: window kind %q (want fixed, sliding or bucket)", ErrInvalidOptions, s)
}
