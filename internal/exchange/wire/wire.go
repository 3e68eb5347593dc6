// Package wire holds the parsing every connector shares: a value kept as
// the exchange's text (numbers never pass through float64), the decimal
// and time field helpers built on it, streaming decode for large answers,
// and the row helpers (markets, tickers, books, candles, trades) that turn
// an exchange's decoded rows into market types.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Decoding errors.
var (
	ErrTrailing = errors.New("trailing data after JSON value")
	ErrMissing  = errors.New("missing field")
	ErrShape    = errors.New("unexpected shape")
)

// Text is a JSON string, number or null kept as its text: exchanges send
// numbers as strings or as numbers, sometimes both in one API, and either
// must reach market.ParseDecimal with the exchange's digits. Null is "".
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) >= 2 && b[0] == '"':
		if bytes.IndexByte(b, '\\') < 0 {
			*t = Text(b[1 : len(b)-1]) // nothing to unescape
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*t = Text(b) // encoding/json has already checked the number's syntax
	default:
		return fmt.Errorf("want string or number, got %s: %w", b, ErrShape)
	}
	return nil
}

// Decode decodes exactly one JSON value, numbers as json.Number.
func Decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	return nil
}

// OptDecimal parses an optional decimal: "" is absent.
func OptDecimal(field string, s Text) (market.Decimal, error) {
	if s == "" {
		return market.Decimal{}, nil
	}
	d, err := market.ParseDecimal(string(s))
	if err != nil {
		return d, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// ReqDecimal parses a decimal that must be present.
func ReqDecimal(field string, s Text) (market.Decimal, error) {
	if s == "" {
		return market.Decimal{}, fmt.Errorf("%s: %w", field, ErrMissing)
	}
	return OptDecimal(field, s)
}

// NonZero drops a zero, as CCXT's safeTicker does for prices: a zero bid or
// high means "none", not a price of zero.
func NonZero(d market.Decimal) market.Decimal {
	if d.Valid() && d.Sign() == 0 {
		return market.Decimal{}
	}
	return d
}

// Fields keeps the first error of a row, so that a parser reads every field
// of a row and checks once. Once Err is set the helpers do nothing.
type Fields struct{ Err error }

// Dec parses an optional decimal: absent stays absent.
func (f *Fields) Dec(name string, s Text) market.Decimal {
	if f.Err != nil {
		return market.Decimal{}
	}
	d, err := OptDecimal(name, s)
	f.Err = err
	return d
}

// Req parses a decimal that must be present.
func (f *Fields) Req(name string, s Text) market.Decimal {
	if f.Err != nil {
		return market.Decimal{}
	}
	d, err := ReqDecimal(name, s)
	f.Err = err
	return d
}

// Millis parses an optional time in milliseconds; absent is the zero time.
func (f *Fields) Millis(name string, s Text) time.Time {
	if s == "" || f.Err != nil {
		return time.Time{}
	}
	t, err := Millis(name, s)
	f.Err = err
	return t
}

// Int parses an optional integer; absent is 0.
func (f *Fields) Int(name string, s Text) int64 {
	if s == "" || f.Err != nil {
		return 0
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		f.Err = fmt.Errorf("%s: bad integer %q: %w", name, s, ErrShape)
	}
	return v
}

// Levels parses order-book rows [price, amount, ...] of one side, the first
// depth of them (depth <= 0: all). amount names the second value in errors
// (the exchange's own word: "size", "amount").
func Levels(side, amount string, rows [][]Text, depth int) ([]market.Level, error) {
	if depth > 0 && len(rows) > depth {
		rows = rows[:depth]
	}
	out := make([]market.Level, 0, len(rows))
	for i, r := range rows {
		if len(r) < 2 {
			return nil, fmt.Errorf("%s[%d]: want [price, %s, ...]: %w", side, i, amount, ErrShape)
		}
		p, err := ReqDecimal(fmt.Sprintf("%s[%d].price", side, i), r[0])
		if err != nil {
			return nil, err
		}
		a, err := ReqDecimal(fmt.Sprintf("%s[%d].%s", side, i, amount), r[1])
		if err != nil {
			return nil, err
		}
		out = append(out, market.Level{Price: p, Amount: a})
	}
	return out, nil
}
