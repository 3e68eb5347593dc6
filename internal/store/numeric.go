package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

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
// zero groups. s is a plain decimal as market.ParseDecimal produces it.
func appendNumeric(buf []byte, s string) ([]byte, error) {
	var sign uint16
	if len(s) > 0 && s[0] == '-' {
		sign, s = 0x4000, s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(frac) > 0x3FFF {
		return nil, fmt.Errorf("numeric scale %d too large", len(frac))
	}
	// Groups of four digits aligned on the point: the integer part's first
	// group takes what is left over, the fraction's last is padded.
	nInt := (len(intPart) + 3) / 4
	var arr [64]uint16
	groups := arr[:0]
	if n := nInt + (len(frac)+3)/4; n > len(arr) {
		groups = make([]uint16, 0, n)
	}
	left := len(intPart) % 4
	if left == 0 {
		left = 4
	}
	var g uint16
	for i := 0; i < len(intPart); i++ {
		g = g*10 + uint16(intPart[i]-'0')
		if left--; left == 0 {
			groups, g, left = append(groups, g), 0, 4
		}
	}
	for i := 0; i < len(frac); i += 4 {
		g = 0
		for k := i; k < i+4; k++ {
			g *= 10
			if k < len(frac) {
				g += uint16(frac[k] - '0')
			}
		}
		groups = append(groups, g)
	}
	weight := nInt - 1
	for len(groups) > 0 && groups[0] == 0 { // leading zero groups (values below 1)
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	if len(groups) == 0 {
		weight, sign = 0, 0
	}
	if weight > 0x7FFF || weight < -0x8000 {
		return nil, fmt.Errorf("numeric weight %d out of range", weight)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(groups)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(frac)))
	for _, g := range groups {
		buf = binary.BigEndian.AppendUint16(buf, g)
	}
	return buf, nil
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
