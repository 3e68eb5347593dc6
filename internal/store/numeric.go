package store

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/market"
)

// decimalCodec lets market.Decimal go to numeric columns straight from its
// text, without pgx's detour through big.Int (one allocation and a
// division loop per value, the loader's main cost). Everything else is
// pgx's own numeric codec.
type decimalCodec struct{ pgtype.NumericCodec }

func (c decimalCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(market.Decimal); ok {
		if format == pgtype.BinaryFormatCode {
			return decimalBinaryPlan{}
		}
		return decimalTextPlan{}
	}
	return c.NumericCodec.PlanEncode(m, oid, format, value)
}

type decimalBinaryPlan struct{}

func (decimalBinaryPlan) Encode(value any, buf []byte) ([]byte, error) {
	d := value.(market.Decimal)
	if !d.Valid() {
		return nil, nil // NULL
	}
	return appendNumeric(buf, d.String())
}

type decimalTextPlan struct{}

func (decimalTextPlan) Encode(value any, buf []byte) ([]byte, error) {
	d := value.(market.Decimal)
	if !d.Valid() {
		return nil, nil
	}
	return append(buf, d.String()...), nil
}

// appendNumeric writes PostgreSQL's binary numeric: ndigits, weight, sign,
// dscale (int16 each), then base-10000 digits without leading or trailing
// zero groups. s is a plain decimal as market.ParseDecimal produces it. It
// runs for every number loaded, so it writes the groups straight into buf
// in one pass over the digits; trailing zero groups are cut off at the
// end rather than the zeros trimmed first (exchanges pad to eight
// decimals, and that loop was a tenth of the encoder's time).
func appendNumeric(buf []byte, s string) ([]byte, error) {
	var sign uint16
	if len(s) > 0 && s[0] == '-' {
		sign, s = 0x4000, s[1:]
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			break
		}
	}
	dscale := len(frac)
	if dscale > 0x3FFF {
		return nil, fmt.Errorf("numeric scale %d too large", dscale)
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	weight := (len(intPart)+3)/4 - 1
	head := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // the header, written last
	end := len(buf)                           // past the last nonzero group
	// Groups of four digits aligned on the point: the integer part's first
	// takes what is left over, the fraction's last is padded.
	n := len(intPart) % 4
	if n == 0 {
		n = 4
	}
	for i := 0; i < len(intPart); i, n = i+n, 4 {
		g := group(intPart[i : i+n])
		buf = append(buf, byte(g>>8), byte(g))
		if g != 0 {
			end = len(buf)
		}
	}
	for i := 0; i < len(frac); i += 4 {
		var g uint16
		if i+4 <= len(frac) {
			g = group(frac[i : i+4])
		} else { // the last, padded with zeros
			g = group(frac[i:]) * [...]uint16{1000, 100, 10}[len(frac)-i-1]
		}
		if g == 0 && len(buf) == head+8 { // a leading zero group of a value below 1
			weight--
			continue
		}
		buf = append(buf, byte(g>>8), byte(g))
		if g != 0 {
			end = len(buf)
		}
	}
	buf = buf[:end]
	ndigits := (end - head - 8) / 2
	if ndigits == 0 {
		weight, sign = 0, 0
	}
	if weight > 0x7FFF || weight < -0x8000 {
		return nil, fmt.Errorf("numeric weight %d out of range", weight)
	}
	binary.BigEndian.PutUint16(buf[head:], uint16(ndigits))
	binary.BigEndian.PutUint16(buf[head+2:], uint16(int16(weight)))
	binary.BigEndian.PutUint16(buf[head+4:], sign)
	binary.BigEndian.PutUint16(buf[head+6:], uint16(dscale))
	return buf, nil
}

// group is the value of up to four decimal digits.
func group(d string) uint16 {
	if len(d) == 4 {
		return uint16(d[0]-'0')*1000 + uint16(d[1]-'0')*100 + uint16(d[2]-'0')*10 + uint16(d[3]-'0')
	}
	var g uint16
	for i := 0; i < len(d); i++ {
		g = g*10 + uint16(d[i]-'0')
	}
	return g
}

// registerDecimal installs decimalCodec on a connection, for numeric and
// numeric[] alike.
func registerDecimal(_ context.Context, conn *pgx.Conn) error {
	tm := conn.TypeMap()
	numeric := &pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: decimalCodec{}}
	tm.RegisterType(numeric)
	tm.RegisterType(&pgtype.Type{Name: "_numeric", OID: pgtype.NumericArrayOID, Codec: &pgtype.ArrayCodec{ElementType: numeric}})
	return nil
}
