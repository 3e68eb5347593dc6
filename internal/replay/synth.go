package replay

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
)

// Derived data. Candles and trades for any time range come from a
// deterministic price path: the same symbol and time always give the same
// values, so the same request gets the same answer and pages join exactly.
// None of it is market data.

func mix(x uint64) uint64 { // splitmix64 finaliser
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// series is one symbol's derived data on one exchange.
type series struct {
	seed    uint64
	base    float64     // price level: the symbol's, a hair apart per exchange
	waves   [5]wave     // the path around base: the symbol's, then the exchange's own
	amount  float64     // typical trade size, from the recorded trades
	spacing int64       // mean gap between trades, µs (Options.TradeRate)
	keys    *seriesKeys // with the key log on: records what is served
}

// wave is one sine of the log price: amp*sin(2πt/period + phase), t in s.
type wave struct{ amp, period, phase float64 }

// levels are the price levels of well-known bases in USD, roughly those of
// the recordings (March 2024), so that each symbol sits at its own level.
var levels = map[string]float64{"BTC": 70000, "ETH": 3900, "SOL": 150, "XRP": 0.62, "LTC": 90, "BNB": 580,
	"DOGE": 0.16, "ADA": 0.7, "AVAX": 55, "DOT": 11, "LINK": 19, "TRX": 0.13, "XLM": 0.13}

// usdLike are quotes priced as one US dollar.
var usdLike = map[string]bool{"USD": true, "USDT": true, "USDC": true, "EUR": true, "FDUSD": true}

// levelOf is a currency's level in USD: the table's, 1 for dollars, else
// one of its own from its name (between 0.1 and 1000).
func levelOf(c string) float64 {
	if l, ok := levels[c]; ok {
		return l
	}
	if usdLike[c] {
		return 1
	}
	return math.Pow(10, 4*unit(mix(hashString(c)))-1)
}

// symbolLevel is the symbol's price: base over quote.
func symbolLevel(sym symbol) float64 { return levelOf(sym.Base) / levelOf(sym.Quote) }

// newSeries derives sym's series on exchange ex. Every exchange follows
// the symbol's path and differs from the others by a fraction of a basis
// point to a few (a constant and a fast wave of its own), as arbitrage
// keeps real exchanges. recordedPrice and amount come from the recorded
// BTC trades: trade sizes keep their value in the quote currency.
func newSeries(sym symbol, ex string, recordedPrice, amount float64, spacing int64) series {
	if amount <= 0 {
		amount = 0.01
	}
	if spacing <= 0 {
		spacing = defaultTradeSpacing
	}
	seed := hashString(sym.String())
	exSeed := mix(seed ^ hashString(ex))
	level := symbolLevel(sym)
	if recordedPrice > 0 {
		amount *= recordedPrice / level
	}
	phase := func(h uint64) float64 { return 2 * math.Pi * unit(h) }
	return series{
		seed: seed, base: level * (1 + 0.0008*(unit(exSeed)-0.5)), amount: amount, spacing: spacing,
		waves: [5]wave{
			{0.06, 9.3 * 86400, phase(mix(seed + 1))}, {0.025, 1.7 * 86400, phase(mix(seed + 2))},
			{0.008, 3.1 * 3600, phase(mix(seed + 3))}, {0.002, 7 * 60, phase(mix(seed + 4))},
			{0.0003, 11 * 60, phase(mix(exSeed + 5))},
		},
	}
}

// price is the path's value at ms: a few slow waves around the base.
func (s series) price(ms int64) float64 {
	t := float64(ms) / 1000
	x := 0.0
	for _, w := range s.waves {
		x += w.amp * math.Sin(2*math.Pi*t/w.period+w.phase)
	}
	return s.base * math.Exp(x)
}

// bounds are at most and at least the path over [from, to] (ms): each
// wave's own extremes there, summed, so that no price of the span (nor a
// trade's) lies outside.
func (s series) bounds(from, to int64) (lo, hi float64) {
	a, b := float64(from)/1000, float64(to)/1000
	var xlo, xhi float64
	for _, w := range s.waves {
		mn, mx := sineRange(2*math.Pi*a/w.period+w.phase, 2*math.Pi*b/w.period+w.phase)
		xlo += w.amp * mn
		xhi += w.amp * mx
	}
	return s.base * math.Exp(xlo), s.base * math.Exp(xhi)
}

// sineRange is the least and greatest sin over [a, b] (radians, a <= b).
func sineRange(a, b float64) (lo, hi float64) {
	if b-a >= 2*math.Pi {
		return -1, 1
	}
	sa, sb := math.Sin(a), math.Sin(b)
	lo, hi = math.Min(sa, sb), math.Max(sa, sb)
	// A crest (π/2 + 2πk) or trough (-π/2 + 2πk) inside the span.
	if math.Ceil((a-math.Pi/2)/(2*math.Pi)) <= math.Floor((b-math.Pi/2)/(2*math.Pi)) {
		hi = 1
	}
	if math.Ceil((a+math.Pi/2)/(2*math.Pi)) <= math.Floor((b+math.Pi/2)/(2*math.Pi)) {
		lo = -1
	}
	return lo, hi
}

type candle struct {
	open, tf         int64 // ms
	o, h, l, c, v, q float64
	count            int64
	partial          bool
}

// exactVolumeTrades bounds the trades a candle's volume sums one by one;
// beyond it, the volume is their expected sum.
const exactVolumeTrades = 5000

// candle derives the candle opening at open; the one containing now is
// partial (closes at the price of now, with the volume so far). It agrees
// with the trades: every trade of its span lies within low and high, count
// is their number, and volume their sum (expected, for very many).
func (s series) candle(open, tf, now int64) candle {
	if s.keys != nil {
		s.keys.candle(open, tf)
	}
	end, partial := open+tf, open+tf > now
	if partial {
		end = max(now, open)
	}
	o, c := s.price(open), s.price(end)
	l, h := s.bounds(open, end)
	h *= 1 + tradeNoise/2
	l *= 1 - tradeNoise/2
	first, last := s.firstTrade(open*1000), s.lastTrade(end*1000-1)
	if partial {
		last = s.lastTrade(end * 1000)
	}
	n := max(0, last-first+1)
	v := 0.0
	if n <= exactVolumeTrades {
		for k := first; k <= last; k++ {
			v += s.tradeAmount(mix(s.seed*7 + uint64(k)))
		}
	} else {
		v = float64(n) * s.amount * (0.05 + 2.0/3) // the mean of tradeAmount
	}
	return candle{open: open, tf: tf, o: o, h: h, l: l, c: c, v: v, q: v * (o + c) / 2, count: n, partial: partial}
}

// prices formats a candle's prices, keeping low <= open, close <= high
// after rounding: high rounds up and low down, so that they still hold
// every trade.
func (k candle) prices(f decFormat) (o, h, l, c string) {
	f = f.forLevel(k.l)
	ro, rc := roundTo(k.o, f.round), roundTo(k.c, f.round)
	p := math.Pow10(f.round)
	rh := math.Max(math.Ceil(k.h*p)/p, math.Max(ro, rc))
	rl := math.Min(math.Floor(k.l*p)/p, math.Min(ro, rc))
	return fmtDec(ro, f.print), fmtDec(rh, f.print), fmtDec(rl, f.print), fmtDec(rc, f.print)
}

// decFormat prints derived prices like the recorded ones: as many decimals
// as they print, but rounded to the digits they actually use (Binance
// prints 8 decimals on a 0.01 tick).
type decFormat struct{ round, print int }

func priceFormat(recorded ...any) decFormat {
	var f decFormat
	for _, v := range recorded {
		s := str(v)
		d := decimals(v)
		sig := d
		for sig > 0 && s[len(s)-1-(d-sig)] == '0' {
			sig--
		}
		f.print, f.round = max(f.print, d), max(f.round, sig)
	}
	f.round = min(max(f.round, min(2, f.print)), f.print)
	return f
}

// forLevel keeps at least six significant digits at price level p: a cheap
// coin needs more decimals than the recorded BTC prices print.
func (f decFormat) forLevel(p float64) decFormat {
	if p <= 0 {
		return f
	}
	need := max(0, 5-int(math.Floor(math.Log10(p))))
	f.round, f.print = max(f.round, need), max(f.print, need)
	return f
}

func (f decFormat) s(x float64) string {
	f = f.forLevel(x)
	return fmtDec(roundTo(x, f.round), f.print)
}

// defaultTradeSpacing is the mean gap between derived trades, in
// microseconds, unless Options.TradeRate sets another (one every 2 s).
const defaultTradeSpacing = 2_000_000

// MaxTradeRate is the highest Options.TradeRate: one trade a microsecond.
const MaxTradeRate = 1e6

// tradeSpacing turns a rate (trades per second per symbol; 0: the default)
// into the mean gap between trades in microseconds.
func tradeSpacing(rate float64) int64 {
	if rate <= 0 {
		return defaultTradeSpacing
	}
	return max(1, int64(math.Round(1e6/rate)))
}

type trade struct {
	k      int64 // sequence number; exchanges' ids are an offset plus k
	us     int64 // time in microseconds
	price  float64
	amount float64
	buy    bool
}

// tradeNoise is how far a trade's price strays from the path, at most
// half of it either way.
const tradeNoise = 0.0004

// trade derives the k-th trade: it falls in [k*spacing, (k+1)*spacing), so
// trades are strictly increasing in time and k.
func (s series) trade(k int64) trade {
	r := mix(s.seed*7 + uint64(k))
	us := k*s.spacing + int64(unit(r)*float64(s.spacing))
	p := s.price(us/1000) * (1 + tradeNoise*(unit(mix(r+1))-0.5))
	return trade{k: k, us: us, price: p, amount: s.tradeAmount(r), buy: mix(r+3)&1 == 0}
}

// tradeAmount is the size of the trade whose hash is r.
func (s series) tradeAmount(r uint64) float64 {
	u := unit(mix(r + 2))
	return s.amount * (0.05 + 2*u*u)
}

// firstTrade is the smallest k whose trade is at or after us.
func (s series) firstTrade(us int64) int64 {
	k := floorDiv(us, s.spacing)
	if s.trade(k).us < us {
		k++
	}
	return k
}

// lastTrade is the largest k whose trade is at or before us.
func (s series) lastTrade(us int64) int64 {
	k := floorDiv(us, s.spacing)
	if s.trade(k).us > us {
		k--
	}
	return k
}

// tradeRange returns trades with k in [from, to], oldest first.
func (s series) tradeRange(from, to int64) []trade {
	if to < from {
		return nil
	}
	if s.keys != nil {
		s.keys.trades(from, to)
	}
	out := make([]trade, 0, to-from+1)
	for k := from; k <= to; k++ {
		out = append(out, s.trade(k))
	}
	return out
}

// openTimes lists candle open times in [lo, hi] (both aligned), at most
// limit of them: the oldest ones, or with newest the most recent. The
// result is oldest first.
func openTimes(lo, hi, tf int64, limit int, newest bool) []int64 {
	if hi < lo || limit <= 0 {
		return nil
	}
	n := (hi-lo)/tf + 1
	if n > int64(limit) {
		if newest {
			lo = hi - int64(limit-1)*tf
		}
		n = int64(limit)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = lo + int64(i)*tf
	}
	return out
}

const (
	minute = int64(60_000)
	hour   = 60 * minute
	day    = 24 * hour
	week   = 7 * day
)

// alignDown is the open time of the candle containing t. Weeks start on
// Monday (1970-01-05), as the exchanges' weekly candles do.
func alignDown(t, tf int64) int64 {
	if tf == week {
		return floorDiv(t-4*day, week)*week + 4*day
	}
	return floorDiv(t, tf) * tf
}

// alignUp is the first open time at or after t.
func alignUp(t, tf int64) int64 {
	a := alignDown(t, tf)
	if a < t {
		a += tf
	}
	return a
}

// bookSide returns n levels: the recorded ones first, then more levels
// beyond the last recorded one, away from the spread by dir (-1 for bids,
// +1 for asks). Prices are multiplied by mv.f (sizes divided by it), moving
// the recorded book to the symbol's price now, and the best level stays on
// its side of mv.mid. Each level is the recorded row shape with price at
// index 0 and size at index 1.
func bookSide(recorded []any, n int, dir float64, seed uint64, mv bookMove) []any {
	f := mv.f
	out := make([]any, 0, n)
	if len(recorded) == 0 {
		return out
	}
	first, _ := recorded[0].([]any)
	last, _ := recorded[len(recorded)-1].([]any)
	if len(first) < 2 || len(last) < 2 {
		return out
	}
	// Exchanges trim trailing zeros ("67400"): the most decimals any level
	// prints is the book's precision.
	dec := 0
	for _, l := range recorded {
		if row, _ := l.([]any); len(row) > 0 {
			dec = max(dec, decimals(row[0]))
		}
	}
	pf := scaledFormat(dec, f)
	tick := math.Pow10(-pf.round)
	// The recorded gap between levels is a better step than the price's
	// precision (Binance prints 8 decimals on a 0.01 tick).
	step := 0.0
	for i := 1; i < len(recorded); i++ {
		a, _ := recorded[i-1].([]any)
		b, _ := recorded[i].([]any)
		if len(a) > 0 && len(b) > 0 {
			if d := math.Abs(num(a[0]) - num(b[0])); d > 0 && (step == 0 || d < step) {
				step = d
			}
		}
	}
	step = math.Max(step*f, tick)
	prev := math.NaN()
	// put prices row at p, one tick past the previous level when rounding
	// would not move it away from the spread.
	put := func(row []any, p float64) bool {
		p = roundTo(p, pf.round)
		switch {
		case !math.IsNaN(prev) && (p-prev)*dir <= 0:
			p = roundTo(prev+dir*tick, pf.round)
		case math.IsNaN(prev) && dir < 0:
			p = math.Min(p, roundTo((math.Ceil(mv.mid/tick)-1)*tick, pf.round))
		case math.IsNaN(prev):
			p = math.Max(p, roundTo((math.Floor(mv.mid/tick)+1)*tick, pf.round))
		}
		if p <= 0 {
			return false
		}
		row[0] = like(row[0], fmtDec(p, pf.print))
		prev = p
		out = append(out, row)
		return true
	}
	size := func(src any, x float64) any {
		v := likeDec(src, x/f)
		if num(v) == 0 {
			v = like(src, fmtDec(math.Pow10(-decimals(src)), decimals(src)))
		}
		return v
	}
	for i := 0; i < n && i < len(recorded); i++ {
		row, _ := clone(recorded[i]).([]any)
		if len(row) < 2 {
			return out
		}
		row[1] = size(row[1], num(row[1]))
		if !put(row, num(row[0])*f) {
			return out
		}
	}
	for i := len(out); i < n; i++ {
		r := mix(seed + uint64(i)*0x9e37)
		src, _ := recorded[i%len(recorded)].([]any)
		row := clone(last).([]any)
		row[1] = size(src[1], num(src[1])*(0.5+unit(mix(r))))
		if !put(row, prev+dir*step*float64(1+int(unit(r)*4))) {
			break
		}
	}
	return out
}

// scaledFormat prints prices recorded with dec decimals after multiplying
// them by f: with as many more decimals as keep the recorded relative
// precision, so that a one-tick spread stays at least a tick.
func scaledFormat(dec int, f float64) decFormat {
	if f > 0 && f < 1 {
		dec += int(math.Ceil(math.Log10(1 / f)))
	}
	return decFormat{round: dec, print: dec}
}

// bookMove moves a recorded book: prices times f, around mid.
type bookMove struct{ f, mid float64 }

// book derives both sides of s's book in o (under bidsKey and asksKey),
// n levels each, from the recorded ones, and counts the levels.
func (c *call) book(o *object, s symbol, bidsKey, asksKey string, n int) int {
	seed := hashString(s.String())
	f := c.bookFactor(s, o.arr(bidsKey), o.arr(asksKey))
	o.set(bidsKey, bookSide(o.arr(bidsKey), n, -1, seed, f))
	o.set(asksKey, bookSide(o.arr(asksKey), n, 1, seed+1, f))
	return len(o.arr(bidsKey)) + len(o.arr(asksKey))
}

// bookFactor moves a recorded book (best bid and ask first) to the price
// of s now: the book sits around the symbol's ticker.
func (c *call) bookFactor(s symbol, bids, asks []any) bookMove {
	b, a := firstLevel(bids), firstLevel(asks)
	if b <= 0 || a <= 0 {
		return bookMove{f: 1, mid: (a + b) / 2}
	}
	mid := c.x.series[s].price(c.now)
	return bookMove{f: mid / ((a + b) / 2), mid: mid}
}

func firstLevel(side []any) float64 {
	if len(side) == 0 {
		return 0
	}
	row, _ := side[0].([]any)
	if len(row) == 0 {
		return 0
	}
	return num(row[0])
}

// nearPrice is how far from a recorded ticker's last price one of its
// numbers may be and still be a price (bid, high, vwap...), not a size, a
// count or a time.
const nearPrice = 0.2

// tickerAt moves a recorded ticker (any JSON value) whose last price was
// last to the price of s now: every price in it is multiplied alike.
func (c *call) tickerAt(v any, s symbol, last any) any {
	from := num(last)
	if from <= 0 {
		return v
	}
	f := c.x.series[s].price(c.now) / from
	// Exchanges trim trailing zeros ("67400" beside "67399.9"): the most
	// decimals a price prints is the ticker's precision.
	dec := 0
	walkPrices(v, from, func(x any) any { dec = max(dec, decimals(x)); return x })
	pf := scaledFormat(dec, f)
	return walkPrices(v, from, func(x any) any { return like(x, fmtDec(roundTo(num(x)*f, pf.round), pf.print)) })
}

// walkPrices replaces each number of v near from (a price) by do's result.
func walkPrices(v any, from float64, do func(any) any) any {
	switch t := v.(type) {
	case object:
		for i := range t {
			t[i].Value = walkPrices(t[i].Value, from, do)
		}
		return t
	case []any:
		for i := range t {
			t[i] = walkPrices(t[i], from, do)
		}
		return t
	case json.Number, string:
		x, err := strconv.ParseFloat(str(t), 64)
		if err != nil || math.Abs(x/from-1) >= nearPrice {
			return v
		}
		return do(t)
	}
	return v
}

// itoa shortens strconv calls in the exchange files.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uuidFrom makes a stable UUID-shaped id (Bybit execId).
func uuidFrom(a, b uint64) string {
	x, y := mix(a), mix(b^0x5bd1e995)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", x>>32, (x>>16)&0xffff, 0x5000|(x&0x0fff), 0x8000|(y>>48)&0x3fff, y&0xffffffffffff)
}
