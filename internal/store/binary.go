package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// The bulk tables' rows are written in COPY's binary format by the loader
// itself: no []any per row, no boxing, no type lookups per value. It is
// the client's largest share of a load, and the client shares the cores
// with the server.

// copyHeader starts a binary COPY stream: signature, flags, extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// binaryRows is an io.Reader of rows in COPY's binary format.
type binaryRows[T any] struct {
	rows []T
	i    int
	enc  func([]byte, T) []byte
	pend []byte // encoded, not yet read
	off  int
	eof  bool
}

func newBinaryRows[T any](rows []T, enc func([]byte, T) []byte) *binaryRows[T] {
	return &binaryRows[T]{rows: rows, enc: enc, pend: append(make([]byte, 0, 64<<10), copyHeader...)}
}

func (r *binaryRows[T]) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off < len(r.pend) {
			c := copy(p[n:], r.pend[r.off:])
			n += c
			r.off += c
			continue
		}
		if r.eof {
			break
		}
		r.pend, r.off = r.pend[:0], 0
		for len(r.pend) < 32<<10 && r.i < len(r.rows) {
			r.pend = r.enc(r.pend, r.rows[r.i])
			r.i++
		}
		if r.i == len(r.rows) {
			r.pend = append(r.pend, 0xff, 0xff) // the trailer
			r.eof = true
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func appendFields(b []byte, n int) []byte { return binary.BigEndian.AppendUint16(b, uint16(n)) }

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xFFFFFFFF) }

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// y2k is PostgreSQL's epoch for timestamps, in microseconds after Unix's.
const y2k = 946_684_800_000_000

// pgMicros is t as PostgreSQL stores it, microseconds since 2000, cut as
// pgx cuts it.
func pgMicros(t time.Time) int64 { return t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - y2k }

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(pgMicros(t)))
}

// appendDecimal appends d as numeric, or NULL when absent. The Go-side
// guard (required) has made sure it fits numeric.
func appendDecimal(b []byte, d market.Decimal) []byte {
	if !d.Valid() {
		return appendNull(b)
	}
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := appendNumeric(b, d.String())
	if err != nil { // unreachable past the guard; NULL makes the database refuse the row
		return appendNull(b[:at])
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// Raw values of a probe's result, binary format.

func rawTime(raw []byte) (time.Time, error) {
	if len(raw) != 8 {
		return time.Time{}, fmt.Errorf("%w: timestamptz of %d bytes", errRaw, len(raw))
	}
	us := int64(binary.BigEndian.Uint64(raw)) + y2k
	return time.UnixMicro(us).UTC(), nil
}

func rawMicros(raw []byte) int64 {
	if len(raw) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(raw))
}

func rawBool(raw []byte) bool { return len(raw) == 1 && raw[0] == 1 }

var errRaw = errors.New("unexpected value from the database")

// numericEqual reports whether raw, a numeric in binary form, is the same
// number as d. Both forms are canonical (no leading or trailing zero
// groups), so they match byte for byte apart from the display scale:
// "1.50" and "1.5" are one value, as for the database's own comparison.
func numericEqual(raw []byte, d market.Decimal, scratch *[]byte) bool {
	if !d.Valid() {
		return raw == nil
	}
	if raw == nil {
		return false
	}
	enc, err := appendNumeric((*scratch)[:0], d.String())
	*scratch = enc
	if err != nil || len(enc) != len(raw) || len(raw) < 8 {
		return false
	}
	return bytes.Equal(enc[:6], raw[:6]) && bytes.Equal(enc[8:], raw[8:])
}

// numericText renders a binary numeric as PostgreSQL's text form (plain
// notation, display scale kept): for conflict records.
func numericText(raw []byte) (string, error) {
	if len(raw) < 8 {
		return "", fmt.Errorf("%w: numeric of %d bytes", errRaw, len(raw))
	}
	n := int(binary.BigEndian.Uint16(raw[0:]))
	weight := int(int16(binary.BigEndian.Uint16(raw[2:])))
	sign := binary.BigEndian.Uint16(raw[4:])
	dscale := int(binary.BigEndian.Uint16(raw[6:]))
	if len(raw) != 8+2*n {
		return "", fmt.Errorf("%w: numeric with %d digits in %d bytes", errRaw, n, len(raw))
	}
	if sign == 0xC000 {
		return "NaN", nil
	}
	digit := func(k int) int {
		if k < 0 || k >= n {
			return 0
		}
		return int(binary.BigEndian.Uint16(raw[8+2*k:]))
	}
	var sb strings.Builder
	if sign == 0x4000 {
		sb.WriteByte('-')
	}
	if weight < 0 {
		sb.WriteByte('0')
	} else {
		for k := 0; k <= weight; k++ {
			g := strconv.Itoa(digit(k))
			if k > 0 {
				sb.WriteString("0000"[len(g):])
			}
			sb.WriteString(g)
		}
	}
	if dscale > 0 {
		frac := make([]byte, 0, dscale+4)
		for k := weight + 1; len(frac) < dscale; k++ {
			g := strconv.Itoa(digit(k))
			frac = append(append(frac, "0000"[len(g):]...), g...)
		}
		sb.WriteByte('.')
		sb.Write(frac[:dscale])
	}
	return sb.String(), nil
}

// rawDecimal is a binary numeric as a Decimal (NULL: absent).
func rawDecimal(raw []byte) (market.Decimal, error) {
	if raw == nil {
		return market.Decimal{}, nil
	}
	s, err := numericText(raw)
	if err != nil {
		return market.Decimal{}, err
	}
	return market.ParseDecimal(s)
}
