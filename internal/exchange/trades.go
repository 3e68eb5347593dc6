package exchange

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// ErrBadCursor is a trade cursor the exchange cannot page from, such as a
// non-numeric id where it pages by id.
var ErrBadCursor = errors.New("trade cursor not usable on this exchange")

// TradeCursor is a position in one symbol's trade stream: the newest trade
// captured. The zero cursor is the start of capture: nothing captured yet.
type TradeCursor struct {
	ID   string    // the exchange's trade id
	Time time.Time // the trade's time
}

// IsZero reports whether nothing has been captured yet.
func (c TradeCursor) IsZero() bool { return c.ID == "" && c.Time.IsZero() }

// CursorOf is the cursor just past t.
func CursorOf(t market.Trade) TradeCursor { return TradeCursor{ID: t.ID, Time: t.Time} }

// TradePage is one answer of TradePager.TradesAfter.
type TradePage struct {
	// Trades after the cursor, oldest first. Unless Lost, the first of
	// them is the trade that follows the cursor.
	Trades []market.Trade
	// More says the page was full: further trades exist now, ask again
	// from the last one.
	More bool
	// Lost says the exchange no longer serves the trades right after the
	// cursor: those between the cursor and Trades[0] (or, with no Trades,
	// up to when the page was asked) cannot be had from it any more.
	Lost bool
}

// TradePager is a Connector whose exchange pages its trades forward from
// a given trade, so that consecutive calls join without a hole however
// busy the symbol is: Binance aggTrades fromId, Kraken since, Coinbase
// before, OKX history-trades, Bitstamp's minute/hour/day windows.
// Exchanges that serve only their latest trades (KuCoin, HTX, Bybit spot)
// do not implement it: those must be polled often enough for consecutive
// answers to overlap.
type TradePager interface {
	// TradesAfter returns the trades after the cursor, at most about
	// limit (0: the exchange's page). With a zero cursor it returns the
	// most recent trades, where capture starts.
	TradesAfter(ctx context.Context, symbol market.Symbol, after TradeCursor, limit int) (TradePage, error)
}

// CompareTradeIDs orders two trade ids of one exchange and symbol. Every
// exchange here numbers its trades with increasing integers, sent as
// decimal strings of varying length: those compare by value. Ids that are
// not integers (Bybit's UUIDs) carry no order and compare as text, which
// only makes the order total.
func CompareTradeIDs(a, b string) int {
	if decimal(a) && decimal(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// NextTradeID is the id after id when ids are consecutive integers: the
// id a page that follows id must start with. ok is false for an id that
// is not a decimal integer.
func NextTradeID(id string) (string, bool) {
	if !decimal(id) {
		return "", false
	}
	b := []byte(id)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b), true
		}
		b[i] = '0'
	}
	return "1" + string(b), true
}

func decimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// After reports whether t comes after the cursor: later, or at the same
// time with a greater id. Exchanges whose ids carry no order (UUIDs) are
// told apart by time only; callers drop repeats by id.
func (c TradeCursor) After(t market.Trade) bool {
	if c.IsZero() {
		return true
	}
	if d := t.Time.Compare(c.Time); d != 0 {
		return d > 0
	}
	if decimal(t.ID) && decimal(c.ID) {
		return CompareTradeIDs(t.ID, c.ID) > 0
	}
	return t.ID != c.ID
}

// SortTrades orders trades oldest first, and trades of one instant by id,
// so that a page read newest first keeps the exchange's sequence.
func SortTrades(ts []market.Trade) {
	slices.SortStableFunc(ts, func(a, b market.Trade) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if decimal(a.ID) && decimal(b.ID) {
			return CompareTradeIDs(a.ID, b.ID)
		}
		return 0
	})
}

// PageSize is the page to ask for: limit, or the exchange's largest page
// when limit is 0 or more than that.
func PageSize(limit, largest int) int {
	if limit <= 0 || limit > largest {
		return largest
	}
	return limit
}

// PagerOf returns c as a TradePager, looking through wrappers that expose
// the connector they wrap (Unwrap() Connector), such as the daemon's
// client. ok is false for an exchange that serves only its latest trades.
func PagerOf(c Connector) (TradePager, bool) {
	for c != nil {
		if p, ok := c.(TradePager); ok {
			return p, true
		}
		u, ok := c.(interface{ Unwrap() Connector })
		if !ok {
			return nil, false
		}
		c = u.Unwrap()
	}
	return nil, false
}

// Newer sorts trades (SortTrades) and returns those after the cursor, for
// exchanges that page by time and answer with trades up to it too.
func (c TradeCursor) Newer(ts []market.Trade) []market.Trade {
	SortTrades(ts)
	var out []market.Trade
	for _, t := range ts {
		if c.After(t) {
			out = append(out, t)
		}
	}
	return out
}

// IDPage is the page of a pager whose trade ids are consecutive, asked
// from next, the id after the cursor: its trades sorted, More when full,
// and Lost when it does not start at next (the exchange no longer serves
// the trades between).
func IDPage(ts []market.Trade, next string, limit int) TradePage {
	SortTrades(ts)
	return TradePage{Trades: ts, More: len(ts) >= limit, Lost: len(ts) > 0 && ts[0].ID != next}
}
