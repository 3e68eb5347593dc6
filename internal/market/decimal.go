package market

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number kept as the plain text the exchange
// sent ("0.01000000" stays "0.01000000"), so digits and scale survive the
// trip to a numeric column. Exponent notation ("1.65E8") is expanded on
// parse. The zero value means "absent" (CCXT's undefined), not zero.
type Decimal struct {
	s string
}

// Decimal parse errors.
var (
	ErrEmptyDecimal   = errors.New("empty decimal")
	ErrInvalidDecimal = errors.New("invalid decimal")
)

// ParseDecimal validates s and returns it in plain notation. It accepts an
// optional sign, digits with at most one point, and an optional exponent.
// NaN, Inf and hex are rejected.
func ParseDecimal(s string) (Decimal, error) {
	if s == "" {
		return Decimal{}, ErrEmptyDecimal
	}
	if plain(s) {
		return Decimal{s: s}, nil // as exchanges send them: no sign, no exponent
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return Decimal{}, fmt.Errorf("%w: %q", ErrInvalidDecimal, s)
		}
		mant, exp = s[:i], e
	}
	neg := false
	switch {
	case strings.HasPrefix(mant, "-"):
		neg, mant = true, mant[1:]
	case strings.HasPrefix(mant, "+"):
		mant = mant[1:]
	}
	intPart, frac, hasPoint := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !digits(intPart) || !digits(frac) || hasPoint && strings.Contains(frac, ".") {
		return Decimal{}, fmt.Errorf("%w: %q", ErrInvalidDecimal, s)
	}
	if exp == 0 && !neg && intPart != "" && mant == s {
		return Decimal{s: s}, nil // fast path: already plain and unsigned
	}
	if exp != 0 {
		// Shift the point |exp| places, padding with zeros.
		all := intPart + frac
		point := len(intPart) + exp
		switch {
		case point <= 0:
			intPart, frac = "0", strings.Repeat("0", -point)+all
		case point >= len(all):
			intPart, frac = all+strings.Repeat("0", point-len(all)), ""
		default:
			intPart, frac = all[:point], all[point:]
		}
		intPart = strings.TrimLeft(intPart, "0")
	}
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return Decimal{s: out}, nil
}

// plain reports whether s is digits with at most one point, after the
// first digit: the common case, accepted as it is in one pass.
func plain(s string) bool {
	if s[0] < '0' || s[0] > '9' {
		return false
	}
	point := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !point:
			point = true
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MustDecimal parses s and panics on error; for tests and constants.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// IsZero reports whether d is absent. A present zero ("0.0") is not absent.
func (d Decimal) IsZero() bool { return d.s == "" }

// Valid reports whether d holds a value.
func (d Decimal) Valid() bool { return d.s != "" }

// String returns the plain decimal text, or "" when absent.
func (d Decimal) String() string { return d.s }

// Float64 returns the nearest float64; absent is NaN.
func (d Decimal) Float64() float64 {
	if d.s == "" {
		return math.NaN()
	}
	f, _ := strconv.ParseFloat(d.s, 64)
	return f
}

// Sign returns -1, 0 or +1; absent is 0.
func (d Decimal) Sign() int {
	if d.s == "" {
		return 0
	}
	if d.s[0] == '-' {
		if strings.Trim(d.s[1:], "0.") == "" {
			return 0
		}
		return -1
	}
	if strings.Trim(d.s, "0.") == "" {
		return 0
	}
	return 1
}

// Rat returns d as an exact rational; absent is nil.
func (d Decimal) Rat() *big.Rat {
	if d.s == "" {
		return nil
	}
	r, _ := new(big.Rat).SetString(d.s)
	return r
}

// Cmp compares exactly: -1 if d < o, 0 if equal, +1 if d > o. Absent values
// compare as zero; callers check Valid first where that matters. It works
// on the digits, so validation loops allocate nothing.
func (d Decimal) Cmp(o Decimal) int {
	a, b := d.s, o.s
	if canonical(a) && canonical(b) {
		return cmpCanonical(a, b)
	}
	if a == "" {
		a = "0"
	}
	if b == "" {
		b = "0"
	}
	sa, sb := Decimal{a}.Sign(), Decimal{b}.Sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	c := cmpAbs(strings.TrimPrefix(a, "-"), strings.TrimPrefix(b, "-"))
	if sa < 0 {
		return -c
	}
	return c
}

// canonical reports whether s, plain, is unsigned with no leading zero
// before its integer digits ("0.5" has none, "00.5" has one): the usual
// price or amount.
func canonical(s string) bool {
	return s != "" && (s[0] >= '1' && s[0] <= '9' || s[0] == '0' && (len(s) == 1 || s[1] == '.'))
}

// cmpCanonical compares two canonical decimals in one pass (a quality
// check compares four prices a candle): the longer integer part is larger;
// with equal ones the points align, so the bytes compare as the values do,
// and past the shorter text the longer one is larger if any digit of its
// rest is not zero.
func cmpCanonical(a, b string) int {
	ai, bi := strings.IndexByte(a, '.'), strings.IndexByte(b, '.')
	if ai < 0 {
		ai = len(a)
	}
	if bi < 0 {
		bi = len(b)
	}
	if ai != bi {
		return cmp.Compare(ai, bi)
	}
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	rest, longer := a[n:], 1
	if len(b) > len(a) {
		rest, longer = b[n:], -1
	}
	if strings.Trim(rest, "0.") != "" {
		return longer
	}
	return 0
}

// cmpAbs compares two unsigned plain decimals digit by digit.
func cmpAbs(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	ai, bi = strings.TrimLeft(ai, "0"), strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	for i := 0; i < max(len(af), len(bf)); i++ {
		x, y := byte('0'), byte('0')
		if i < len(af) {
			x = af[i]
		}
		if i < len(bf) {
			y = bf[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Mul returns d*o exactly, trimmed of trailing zeros; absent if either is.
func (d Decimal) Mul(o Decimal) Decimal {
	if d.s == "" || o.s == "" {
		return Decimal{}
	}
	// Scale = sum of scales; exact via big.Int.
	ai, as := d.unscaled()
	bi, bs := o.unscaled()
	p := new(big.Int).Mul(ai, bi)
	return fromUnscaled(p, as+bs)
}

// Add returns d+o exactly; absent if either is.
func (d Decimal) Add(o Decimal) Decimal { return d.addSigned(o, 1) }

// Sub returns d-o exactly; absent if either is.
func (d Decimal) Sub(o Decimal) Decimal { return d.addSigned(o, -1) }

func (d Decimal) addSigned(o Decimal, sign int64) Decimal {
	if d.s == "" || o.s == "" {
		return Decimal{}
	}
	ai, as := d.unscaled()
	bi, bs := o.unscaled()
	scale := max(as, bs)
	ai.Mul(ai, pow10(scale-as))
	bi.Mul(bi, pow10(scale-bs))
	return fromUnscaled(ai.Add(ai, bi.Mul(bi, big.NewInt(sign))), scale)
}

// Quo returns d/o truncated toward zero to places decimals, as CCXT's
// Precise.stringDiv does; absent if either is absent or o is zero.
func (d Decimal) Quo(o Decimal, places int) Decimal {
	if d.s == "" || o.s == "" || o.Sign() == 0 {
		return Decimal{}
	}
	r := new(big.Rat).Quo(d.Rat(), o.Rat())
	n := new(big.Int).Mul(r.Num(), pow10(places))
	n.Quo(n, r.Denom()) // truncates toward zero
	return fromUnscaled(n, places)
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// Unscaled returns the integer coefficient and the number of fractional
// digits: d == coef * 10^-scale. Used to encode numeric exactly.
func (d Decimal) Unscaled() (*big.Int, int) { return d.unscaled() }

func (d Decimal) unscaled() (*big.Int, int) {
	s := d.s
	intPart, frac, _ := strings.Cut(s, ".")
	if len(intPart)+len(frac) <= 18 { // fits int64: skip big.Int parsing
		var v int64
		neg := false
		for _, part := range [2]string{intPart, frac} {
			for i := 0; i < len(part); i++ {
				if part[i] == '-' {
					neg = true
					continue
				}
				v = v*10 + int64(part[i]-'0')
			}
		}
		if neg {
			v = -v
		}
		return big.NewInt(v), len(frac)
	}
	n, _ := new(big.Int).SetString(intPart+frac, 10)
	if n == nil {
		n = new(big.Int)
	}
	return n, len(frac)
}

func fromUnscaled(n *big.Int, scale int) Decimal {
	neg := n.Sign() < 0
	s := new(big.Int).Abs(n).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if neg && strings.Trim(s, "0.") != "" { // no "-0"
		s = "-" + s
	}
	return Decimal{s: s}
}

// MarshalJSON writes a JSON number with the exchange's digits, or null.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d.s == "" {
		return []byte("null"), nil
	}
	return []byte(d.s), nil
}

// UnmarshalJSON accepts a JSON number, a numeric string, or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" || s == `""` {
		*d = Decimal{}
		return nil
	}
	s = strings.Trim(s, `"`)
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText returns the plain decimal text; absent is empty.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.s), nil }

// UnmarshalText parses text as ParseDecimal does; empty is absent.
func (d *Decimal) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*d = Decimal{}
		return nil
	}
	v, err := ParseDecimal(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalBinary is MarshalText: the text is already the exact value, and
// encoding/gob uses it, so rows holding decimals encode as they are.
func (d Decimal) MarshalBinary() ([]byte, error) { return d.MarshalText() }

// UnmarshalBinary is UnmarshalText.
func (d *Decimal) UnmarshalBinary(data []byte) error { return d.UnmarshalText(data) }
