package bitstamp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// Parse errors.
var (
	errTrailing = errors.New("trailing data after JSON value")
	errMissing  = errors.New("missing field")
	errShape    = errors.New("unexpected shape")
)

// text is a JSON string, number or null kept as its text: Bitstamp sends strings,
// but a number in their place should not fail the whole batch.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want string or number, got %s: %w", b, errShape)
	}
	*t = text(n)
	return nil
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errTrailing
	}
	return nil
}

// optDecimal parses an optional decimal: "" is absent.
func optDecimal(field string, s text) (market.Decimal, error) {
	if s == "" {
		return market.Decimal{}, nil
	}
	d, err := market.ParseDecimal(string(s))
	if err != nil {
		return d, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// reqDecimal parses a decimal that must be present.
func reqDecimal(field string, s text) (market.Decimal, error) {
	if s == "" {
		return market.Decimal{}, fmt.Errorf("%s: %w", field, errMissing)
	}
	return optDecimal(field, s)
}

// nonZero drops a zero, as CCXT's safeTicker does for prices: a zero bid or
// high means "none", not a price of zero.
func nonZero(d market.Decimal) market.Decimal {
	if d.Valid() && d.Sign() == 0 {
		return market.Decimal{}
	}
	return d
}

// millis parses a Unix time in milliseconds.
func millis(field string, s text) (time.Time, error) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("%s: invalid milliseconds %q: %w", field, s, errShape)
	}
	return time.UnixMilli(n).UTC(), nil
}

func decodeError(endpoint string, body []byte, err error) error {
	return &exchange.DecodeError{Exchange: ID, Endpoint: endpoint, Payload: body, Err: err}
}
