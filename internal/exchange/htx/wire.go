package htx

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// num is a JSON value sent either as a number or as a numeric string. It
// keeps the raw text, so numbers never pass through float64.
type num string

var errNotNumber = errors.New("not a number")

func (n *num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*n = ""
	case len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"':
		*n = num(b[1 : len(b)-1])
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*n = num(b)
	default:
		return fmt.Errorf("%w: %s", errNotNumber, b)
	}
	return nil
}

// fields collects the first parse error of a row, so that parsers read
// every field in a line and check once.
type fields struct{ err error }

// dec parses an optional decimal: absent stays absent.
func (f *fields) dec(name string, n num) market.Decimal {
	if n == "" || f.err != nil {
		return market.Decimal{}
	}
	d, err := market.ParseDecimal(string(n))
	if err != nil {
		f.err = fmt.Errorf("%s: %w", name, err)
	}
	return d
}

// req parses a decimal that must be present.
func (f *fields) req(name string, n num) market.Decimal {
	if n == "" && f.err == nil {
		f.err = fmt.Errorf("%s: %w", name, market.ErrEmptyDecimal)
	}
	return f.dec(name, n)
}

// millis parses a time in milliseconds; absent is the zero time.
func (f *fields) millis(name string, n num) time.Time {
	if n == "" || f.err != nil {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || ms <= 0 {
		f.err = fmt.Errorf("%s: bad time %q", name, n)
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (f *fields) int(name string, n num) int64 {
	if n == "" || f.err != nil {
		return 0
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f.err = fmt.Errorf("%s: bad integer %q", name, n)
	}
	return v
}
