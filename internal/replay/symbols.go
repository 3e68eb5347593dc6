package replay

import (
	"fmt"
	"strconv"
	"strings"
)

// symbol is a unified spot symbol, BASE/QUOTE. The package keeps its own
// small type so that it imports nothing from the product (it is a test
// double of the outside world, not a part of the pipeline).
type symbol struct{ Base, Quote string }

func (s symbol) String() string { return s.Base + "/" + s.Quote }

func parseSymbol(s string) (symbol, error) {
	base, quote, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "/")
	if !ok || !alnum(base) || !alnum(quote) {
		return symbol{}, fmt.Errorf("%w %q: want BASE/QUOTE, e.g. BTC/USDT", ErrBadSymbol, s)
	}
	return symbol{base, quote}, nil
}

func alnum(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// DefaultSymbols are served when no list is given: the recorded BTC/USDT
// plus pairs that exercise each exchange's id quirks (Kraken's XXBTZUSD).
var DefaultSymbols = []string{"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "LTC/USDT", "BTC/USD", "ETH/USD"}

// symbolList parses names and, with scale > len, adds generated symbols
// derived from the given ones (BTC/USDT -> BTC1/USDT, BTC2/USDT, ...) so that
// load tests get many distinct markets with the recorded shapes.
func symbolList(names []string, scale int) ([]symbol, error) {
	if len(names) == 0 {
		names = DefaultSymbols
	}
	seen := map[symbol]bool{}
	var out []symbol
	for _, n := range names {
		s, err := parseSymbol(n)
		if err != nil {
			return nil, err
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if scale <= 0 {
		return out, nil
	}
	given := out
	if scale < len(given) {
		return given[:scale], nil
	}
	for i := 0; len(out) < scale; i++ {
		g := given[i%len(given)]
		s := symbol{g.Base + strconv.Itoa(i/len(given)+1), g.Quote}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// Kraken keeps X/Z-prefixed names for the assets it listed first.
var (
	krakenLegacyCrypto = map[string]bool{"XBT": true, "ETH": true, "LTC": true, "XRP": true, "XLM": true,
		"ETC": true, "XMR": true, "ZEC": true, "REP": true, "MLN": true, "XDG": true}
	krakenLegacyFiat = map[string]bool{"USD": true, "EUR": true, "GBP": true, "JPY": true, "CAD": true}
	krakenCodes      = map[string]string{"BTC": "XBT", "DOGE": "XDG"}
)

func krakenCode(c string) string {
	if k, ok := krakenCodes[c]; ok {
		return k
	}
	return c
}

// krakenAsset is Kraken's asset name: XXBT, ZUSD, or the plain code.
func krakenAsset(c string) string {
	k := krakenCode(c)
	switch {
	case krakenLegacyCrypto[k]:
		return "X" + k
	case krakenLegacyFiat[k]:
		return "Z" + k
	}
	return k
}

// krakenAltname is the short pair name (XBTUSDT, XBTUSD).
func krakenAltname(s symbol) string { return krakenCode(s.Base) + krakenCode(s.Quote) }

// krakenName is the key Kraken uses in results: XXBTZUSD for two legacy
// assets, otherwise the altname (XBTUSDT).
func krakenName(s symbol) string {
	b, q := krakenCode(s.Base), krakenCode(s.Quote)
	if krakenLegacyCrypto[b] && (krakenLegacyCrypto[q] || krakenLegacyFiat[q]) {
		return krakenAsset(s.Base) + krakenAsset(s.Quote)
	}
	return b + q
}
