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
// dscale (int16 each), then base-10000 digits. s is a plain decimal as
// market.ParseDecimal produces it.
func appendNumeric(buf []byte, s string) ([]byte, error) {
	var sign uint16
	if strings.HasPrefix(s, "-") {
		sign, s = 0x4000, s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if len(frac) > 0x3FFF {
		return nil, fmt.Errorf("numeric scale %d too large", len(frac))
	}
	dscale := len(frac)
	// Groups of four digits aligned on the point: the integer part padded
	// on the left, the fraction on the right.
	lead := (4 - len(intPart)%4) % 4
	nInt := (len(intPart) + lead) / 4
	nFrac := (len(frac) + 3) / 4
	var digits [64]int16
	groups := digits[:0]
	if nInt+nFrac > len(digits) {
		groups = make([]int16, 0, nInt+nFrac)
	}
	group := func(src string, start, pad int) int16 {
		// pad: zeros before (negative) or after (positive) src's digits
		var g int16
		for k := 0; k < 4; k++ {
			i := start + k
			var c byte = '0'
			if pad < 0 {
				i += pad
			}
			if i >= 0 && i < len(src) {
				c = src[i]
			}
			g = g*10 + int16(c-'0')
		}
		return g
	}
	for i := 0; i < nInt; i++ {
		groups = append(groups, group(intPart, i*4, -lead))
	}
	for i := 0; i < nFrac; i++ {
		groups = append(groups, group(frac, i*4, 0))
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
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for _, g := range groups {
		buf = binary.BigEndian.AppendUint16(buf, uint16(g))
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
