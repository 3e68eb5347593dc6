package wire

import (
	"math/big"
	"strings"

	"github.com/mdingest/mdingest/internal/market"
)

// Sub returns a-b exactly; absent if either is.
func Sub(a, b market.Decimal) market.Decimal {
	if !a.Valid() || !b.Valid() {
		return market.Decimal{}
	}
	ai, as := a.Unscaled()
	bi, bs := b.Unscaled()
	scale := max(as, bs)
	ai.Mul(ai, pow10(scale-as))
	bi.Mul(bi, pow10(scale-bs))
	return fromUnscaled(ai.Sub(ai, bi), scale)
}

// Quo returns a/b truncated to places decimals (CCXT's Precise.stringDiv);
// absent if either is absent or b is zero.
func Quo(a, b market.Decimal, places int) market.Decimal {
	if !a.Valid() || !b.Valid() || b.Sign() == 0 {
		return market.Decimal{}
	}
	r := new(big.Rat).Quo(a.Rat(), b.Rat())
	n := new(big.Int).Mul(r.Num(), pow10(places))
	n.Quo(n, r.Denom()) // truncates toward zero
	return fromUnscaled(n, places)
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

func fromUnscaled(n *big.Int, scale int) market.Decimal {
	neg := n.Sign() < 0
	s := new(big.Int).Abs(n).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = strings.TrimRight(strings.TrimRight(s[:len(s)-scale]+"."+s[len(s)-scale:], "0"), ".")
	}
	if neg && strings.Trim(s, "0.") != "" {
		s = "-" + s
	}
	d, _ := market.ParseDecimal(s) // always valid: digits and one point
	return d
}
