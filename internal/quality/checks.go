package quality

import (
	"fmt"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// CheckTickers validates a batch of tickers. maxAge bounds each ticker's
// age (0: not checked).
func (c *Checker) CheckTickers(batch []market.Ticker, now time.Time, maxAge time.Duration) Result[market.Ticker] {
	return run(c, &tickerSpec, batch, now, maxAge)
}

// CheckOrderBooks validates a batch of order-book snapshots. maxAge bounds
// each book's age (0: not checked).
func (c *Checker) CheckOrderBooks(batch []market.OrderBook, now time.Time, maxAge time.Duration) Result[market.OrderBook] {
	return run(c, &orderBookSpec, batch, now, maxAge)
}

// CheckCandles validates a batch of candles, oldest first as exchanges send
// them. maxAge bounds the time since the newest candle's period ended (0:
// not checked, as for backfills and imports).
func (c *Checker) CheckCandles(batch []market.Candle, now time.Time, maxAge time.Duration) Result[market.Candle] {
	return run(c, &candleSpec, batch, now, maxAge)
}

// CheckTrades validates a batch of trades, oldest first. maxAge bounds the
// age of the newest trade (0: not checked).
func (c *Checker) CheckTrades(batch []market.Trade, now time.Time, maxAge time.Duration) Result[market.Trade] {
	return run(c, &tradeSpec, batch, now, maxAge)
}

// TradeGap is a break in one symbol's trade stream just before a batch:
// trades the exchange made that were not captured (a recorded hole).
type TradeGap struct {
	Exchange string
	Symbol   market.Symbol
	Missed   int    // trades lost, as well as the caller can tell; at least 1
	Detail   string // the example, e.g. the hole's span and reason
}

// CheckTradeStream validates a batch of trades as CheckTrades does, and
// counts the trades missed before it against completeness: a batch that
// follows a hole scores (rows - failed) / (rows + missed), so a stream
// with holes does not read as complete.
func (c *Checker) CheckTradeStream(batch []market.Trade, gaps []TradeGap, now time.Time, maxAge time.Duration) Result[market.Trade] {
	var holes map[seriesKey]TradeGap
	for _, g := range gaps {
		if g.Missed < 1 {
			g.Missed = 1
		}
		if holes == nil {
			holes = map[seriesKey]TradeGap{}
		}
		k := seriesKey{exchange: g.Exchange, symbol: g.Symbol, dataType: market.TypeTrades}
		if prev, ok := holes[k]; ok {
			g.Missed += prev.Missed
			g.Detail = prev.Detail
		}
		holes[k] = g
	}
	return runWithHoles(c, &tradeSpec, batch, now, maxAge, holes)
}

var tickerSpec = spec[market.Ticker]{
	dataType: market.TypeTicker,
	group: func(t *market.Ticker) seriesKey {
		return seriesKey{exchange: t.Exchange, symbol: t.Symbol, dataType: market.TypeTicker}
	},
	check: checkTicker,
	ts:    func(t *market.Ticker) time.Time { return t.Time },
	fresh: func(t *market.Ticker) time.Time { return t.Time },
	key:   func(t *market.Ticker) rowKey { return rowKey{ts: unixNano(t.Time)} },
	price: func(t *market.Ticker) (float64, bool) {
		if t.Last.Valid() {
			return t.Last.Float64(), true
		}
		return mid(t.Bid, t.Ask)
	},
	label: func(t *market.Ticker) string { return timeLabel(t.Time) },
}

var orderBookSpec = spec[market.OrderBook]{
	dataType: market.TypeOrderBook,
	group: func(b *market.OrderBook) seriesKey {
		return seriesKey{exchange: b.Exchange, symbol: b.Symbol, dataType: market.TypeOrderBook}
	},
	check: checkOrderBook,
	ts:    func(b *market.OrderBook) time.Time { return b.Time },
	fresh: func(b *market.OrderBook) time.Time { return b.Time },
	key:   func(b *market.OrderBook) rowKey { return rowKey{ts: unixNano(b.Time)} },
	price: func(b *market.OrderBook) (float64, bool) {
		if len(b.Bids) == 0 || len(b.Asks) == 0 {
			return 0, false
		}
		return mid(b.Bids[0].Price, b.Asks[0].Price)
	},
	label: func(b *market.OrderBook) string { return timeLabel(b.Time) },
}

var candleSpec = spec[market.Candle]{
	dataType: market.TypeOHLCV,
	ordered:  true,
	group: func(k *market.Candle) seriesKey {
		return seriesKey{exchange: k.Exchange, symbol: k.Symbol, dataType: market.TypeOHLCV, timeframe: k.Timeframe}
	},
	check: checkCandle,
	ts:    func(k *market.Candle) time.Time { return k.Time },
	fresh: func(k *market.Candle) time.Time { return k.End() },
	key:   func(k *market.Candle) rowKey { return rowKey{ts: unixNano(k.Time)} },
	price: func(k *market.Candle) (float64, bool) { return k.Close.Float64(), k.Close.Valid() },
	label: func(k *market.Candle) string { return timeLabel(k.Time) },
}

var tradeSpec = spec[market.Trade]{
	dataType: market.TypeTrades,
	ordered:  true,
	group: func(t *market.Trade) seriesKey {
		return seriesKey{exchange: t.Exchange, symbol: t.Symbol, dataType: market.TypeTrades}
	},
	check: checkTrade,
	ts:    func(t *market.Trade) time.Time { return t.Time },
	fresh: func(t *market.Trade) time.Time { return t.Time },
	key:   func(t *market.Trade) rowKey { return rowKey{ts: unixNano(t.Time), id: t.ID} },
	price: func(t *market.Trade) (float64, bool) { return t.Price.Float64(), t.Price.Valid() },
	label: func(t *market.Trade) string { return "trade " + t.ID + " " + timeLabel(t.Time) },
}

func checkTicker(c *Checker, t *market.Ticker, r *row[market.Ticker]) {
	switch {
	case t.Exchange == "":
		r.reject(Completeness, CheckMissingField, "no exchange")
	case t.Symbol == "":
		r.reject(Completeness, CheckMissingField, "no symbol")
	case !t.Bid.Valid() && !t.Ask.Valid() && !t.Last.Valid():
		r.reject(Completeness, CheckMissingField, "none of bid, ask, last")
	}
	if r.rejected() {
		return
	}
	if t.Time.IsZero() {
		r.fail(Completeness, CheckMissingTimestamp, "no timestamp")
	}
	prices := [...]field{
		{"bid", t.Bid}, {"ask", t.Ask}, {"last", t.Last}, {"open", t.Open},
		{"high", t.High}, {"low", t.Low}, {"close", t.Close}, {"vwap", t.VWAP},
	}
	amounts := [...]field{
		{"bidVolume", t.BidVolume}, {"askVolume", t.AskVolume},
		{"baseVolume", t.BaseVolume}, {"quoteVolume", t.QuoteVolume},
	}
	var n [len(prices)]market.Decimal
	for i, f := range prices {
		n[i] = r.number(f, true)
	}
	for _, f := range amounts {
		r.number(f, false)
	}
	if r.rejected() {
		return
	}
	bid, ask, last, high, low := n[0], n[1], n[2], n[4], n[5]
	if bid.Valid() && ask.Valid() {
		if bid.Cmp(ask) > 0 {
			r.reject(Consistency, CheckCrossedBook, fmt.Sprintf("bid %s > ask %s", bid, ask))
			return
		}
		spread(c, r, bid, ask)
	}
	if high.Valid() && low.Valid() {
		if low.Cmp(high) > 0 {
			r.reject(Consistency, CheckHighBelowLow, fmt.Sprintf("low %s > high %s", low, high))
			return
		}
		if last.Valid() && (last.Cmp(low) < 0 || last.Cmp(high) > 0) {
			r.fail(Consistency, CheckLastOutsideRange, fmt.Sprintf("last %s outside [%s, %s]", last, low, high))
		}
	}
}

func checkOrderBook(c *Checker, b *market.OrderBook, r *row[market.OrderBook]) {
	switch {
	case b.Exchange == "":
		r.reject(Completeness, CheckMissingField, "no exchange")
	case b.Symbol == "":
		r.reject(Completeness, CheckMissingField, "no symbol")
	case len(b.Bids) == 0 && len(b.Asks) == 0:
		r.reject(Completeness, CheckMissingField, "no levels")
	}
	if r.rejected() {
		return
	}
	bid, bidOK := r.levels("bids", b.Bids, true)
	ask, askOK := r.levels("asks", b.Asks, false)
	if r.rejected() {
		return
	}
	if b.Time.IsZero() {
		r.fail(Completeness, CheckMissingTimestamp, "no timestamp")
	}
	switch {
	case !bidOK:
		r.fail(Completeness, CheckEmptySide, "no bids")
	case !askOK:
		r.fail(Completeness, CheckEmptySide, "no asks")
	case bid.Cmp(ask) > 0:
		r.reject(Consistency, CheckCrossedBook, fmt.Sprintf("best bid %s > best ask %s", bid, ask))
	default:
		spread(c, r, bid, ask)
	}
}

func checkCandle(_ *Checker, k *market.Candle, r *row[market.Candle]) {
	fields := [...]field{{"open", k.Open}, {"high", k.High}, {"low", k.Low}, {"close", k.Close}, {"volume", k.Volume}}
	switch {
	case k.Exchange == "":
		r.reject(Completeness, CheckMissingField, "no exchange")
	case k.Symbol == "":
		r.reject(Completeness, CheckMissingField, "no symbol")
	case k.Timeframe == "":
		r.reject(Completeness, CheckMissingField, "no timeframe")
	case k.Time.IsZero():
		r.reject(Completeness, CheckMissingField, "no timestamp")
	default:
		for _, f := range fields {
			if !f.d.Valid() {
				r.reject(Completeness, CheckMissingField, "no "+f.name)
				return
			}
		}
	}
	if r.rejected() {
		return
	}
	tf := k.Timeframe.Duration()
	if tf == 0 {
		r.reject(Validity, CheckInvalidValue, fmt.Sprintf("timeframe %q unknown", k.Timeframe))
		return
	}
	o, h, l, cl := r.number(fields[0], true), r.number(fields[1], true), r.number(fields[2], true), r.number(fields[3], true)
	r.number(fields[4], false)
	if r.rejected() {
		return
	}
	r.price, r.priced = floatOf(cl), true
	switch {
	case l.Cmp(o) > 0:
		r.reject(Consistency, CheckOHLCRelation, fmt.Sprintf("low %s > open %s", l, o))
	case l.Cmp(cl) > 0:
		r.reject(Consistency, CheckOHLCRelation, fmt.Sprintf("low %s > close %s", l, cl))
	case o.Cmp(h) > 0:
		r.reject(Consistency, CheckOHLCRelation, fmt.Sprintf("open %s > high %s", o, h))
	case cl.Cmp(h) > 0:
		r.reject(Consistency, CheckOHLCRelation, fmt.Sprintf("close %s > high %s", cl, h))
	case k.Time.UnixNano()%int64(tf) != 0:
		r.fail(Consistency, CheckMisalignedTimestamp, "open time not a multiple of "+string(k.Timeframe))
	}
}

func checkTrade(_ *Checker, t *market.Trade, r *row[market.Trade]) {
	switch {
	case t.Exchange == "":
		r.reject(Completeness, CheckMissingField, "no exchange")
	case t.Symbol == "":
		r.reject(Completeness, CheckMissingField, "no symbol")
	case t.ID == "":
		r.reject(Completeness, CheckMissingField, "no id")
	case t.Time.IsZero():
		r.reject(Completeness, CheckMissingField, "no timestamp")
	case !t.Price.Valid():
		r.reject(Completeness, CheckMissingField, "no price")
	case !t.Amount.Valid():
		r.reject(Completeness, CheckMissingField, "no amount")
	}
	if r.rejected() {
		return
	}
	r.number(field{"price", t.Price}, true)
	r.number(field{"amount", t.Amount}, true)
	switch t.Side {
	case market.SideBuy, market.SideSell, market.SideUnknown:
	default:
		r.reject(Validity, CheckInvalidValue, fmt.Sprintf("side %q (want buy, sell or none)", t.Side))
	}
}

// spread lowers consistency when the relative spread exceeds MaxSpread.
func spread[T any](c *Checker, r *row[T], bid, ask market.Decimal) {
	b, a := floatOf(bid), floatOf(ask)
	m := (b + a) / 2
	if s := (a - b) / m; s > c.cfg.MaxSpread {
		r.fail(Consistency, CheckWideSpread, fmt.Sprintf("spread %.4g%% of mid (max %.4g%%)", 100*s, 100*c.cfg.MaxSpread))
	}
}

// levels checks one side of a book and returns its best level's price.
func (r *row[T]) levels(side string, levels []market.Level, descending bool) (market.Decimal, bool) {
	var best, prev market.Decimal
	for i, l := range levels {
		switch {
		case !l.Price.Valid():
			r.reject(Completeness, CheckMissingField, levelName(side, i)+" has no price")
		case !l.Amount.Valid():
			r.reject(Completeness, CheckMissingField, levelName(side, i)+" has no amount")
		case !numberOK(l.Price, true):
			r.number(field{levelName(side, i) + " price", l.Price}, true)
		case !numberOK(l.Amount, true):
			r.number(field{levelName(side, i) + " amount", l.Amount}, true)
		}
		if r.rejected() {
			return market.Decimal{}, false
		}
		p := l.Price
		if i == 0 {
			best = p
		} else if c := prev.Cmp(p); descending && c <= 0 || !descending && c >= 0 {
			rel := "above"
			if descending {
				rel = "below"
			}
			r.reject(Consistency, CheckUnsortedLevels, fmt.Sprintf("%s %s not strictly %s %s %s", levelName(side, i), p, rel, levelName(side, i-1), prev))
			return market.Decimal{}, false
		}
		prev = p
	}
	return best, len(levels) > 0
}

// field is a named decimal, for messages.
type field struct {
	name string
	d    market.Decimal
}

// floatOf is d's nearest float64, as strconv reads it; only the checks
// that need a price's value pay for it (comparisons use Decimal.Cmp).
func floatOf(d market.Decimal) float64 { return parseNumber(d).f }

// number checks a present value: at most maxDigits digits on either side
// of the point (so finite) and > 0 (positive) or >= 0. An absent value
// passes; required fields are checked before.
func (r *row[T]) number(f field, positive bool) market.Decimal {
	if !f.d.Valid() || r.rejected() || short(f.d) {
		return f.d
	}
	t := parseNumber(f.d)
	switch {
	case t.ints > maxDigits || t.fracs > maxDigits:
		r.reject(Validity, CheckInvalidValue, fmt.Sprintf("%s has %s (no exchange sends more than %d before or after the point)",
			f.name, digitCount(t.ints, t.fracs), maxDigits))
	case positive && t.sign <= 0:
		r.reject(Validity, CheckInvalidValue, fmt.Sprintf("%s %s (want > 0)", f.name, f.d))
	case t.sign < 0:
		r.reject(Validity, CheckInvalidValue, fmt.Sprintf("%s %s (want >= 0)", f.name, f.d))
	}
	return f.d
}

// short reports whether d passes number's test on its first digit: at
// least 1, and too short for maxDigits digits either side of the point.
func short(d market.Decimal) bool {
	s := d.String()
	return len(s) <= maxDigits && s != "" && s[0] >= '1' && s[0] <= '9'
}

// numberOK is number's test without the message.
func numberOK(d market.Decimal, positive bool) bool {
	if short(d) {
		return true
	}
	t := parseNumber(d)
	return t.ints <= maxDigits && t.fracs <= maxDigits && (t.sign > 0 || !positive && t.sign == 0)
}

// maxDigits bounds the significant digits on either side of the point: no
// exchange quotes a price or an amount beyond 10^20 or finer than 10^-20,
// and a number that does is a corrupt input (a 401-digit "price") the
// database would otherwise store.
const maxDigits = 20

// numberText is what one pass over a Decimal's plain text finds.
type numberText struct {
	sign        int // -1, 0 for zero, 1
	ints, fracs int // significant digits before and after the point
	f           float64
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber reads a Decimal's plain text once (every check of a row
// reads its numbers; a second pass cost a tenth of an import). The float
// avoids strconv's general parser for the usual case: up to 15 significant
// digits (trailing zeros of the fraction aside) and 22 decimals, where the
// digits and the power of ten are exact floats and one correctly rounded
// division gives the float strconv does.
func parseNumber(d market.Decimal) numberText {
	s := d.String() // plain: ParseDecimal made it so
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	ip, fp := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		ip, fp = s[:i], s[i+1:]
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	t := numberText{ints: len(ip), fracs: len(fp)}
	sig := len(ip) + len(fp)
	if len(ip) == 0 { // the fraction's leading zeros are not significant
		sig = len(strings.TrimLeft(fp, "0"))
	}
	if sig == 0 {
		return t // zero
	}
	t.sign = 1
	if neg {
		t.sign = -1
	}
	if sig > 15 || len(fp) >= len(pow10) {
		t.f = d.Float64()
		return t
	}
	var m uint64
	for i := 0; i < len(ip); i++ {
		m = m*10 + uint64(ip[i]-'0')
	}
	for i := 0; i < len(fp); i++ {
		m = m*10 + uint64(fp[i]-'0')
	}
	t.f = float64(m) / pow10[len(fp)]
	if neg {
		t.f = -t.f
	}
	return t
}

func digitCount(ints, fracs int) string {
	if ints > maxDigits {
		return fmt.Sprintf("%d digits before the point", ints)
	}
	return fmt.Sprintf("%d digits after the point", fracs)
}

func levelName(side string, i int) string { return fmt.Sprintf("%s[%d]", side, i) }

// mid of two present prices.
func mid(bid, ask market.Decimal) (float64, bool) {
	if !bid.Valid() || !ask.Valid() {
		return 0, false
	}
	return (bid.Float64() + ask.Float64()) / 2, true
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeLabel(t time.Time) string {
	if t.IsZero() {
		return "(no time)"
	}
	return formatTime(t)
}
