package replay

import (
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
	seed      uint64
	base      float64     // price level, from the recorded ticker
	volPerMin float64     // base volume per minute, from the recorded candles
	amount    float64     // typical trade size, from the recorded trades
	spacing   int64       // mean gap between trades, µs (Options.TradeRate)
	keys      *seriesKeys // with the key log on: records what is served
}

func newSeries(sym symbol, base, volPerMin, amount float64, spacing int64) series {
	if base <= 0 {
		base = 100
	}
	if volPerMin <= 0 {
		volPerMin = 1
	}
	if amount <= 0 {
		amount = 0.01
	}
	if spacing <= 0 {
		spacing = defaultTradeSpacing
	}
	return series{seed: hashString(sym.String()), base: base, volPerMin: volPerMin, amount: amount, spacing: spacing}
}

// price is the path's value at ms: a few slow waves around the base.
func (s series) price(ms int64) float64 {
	t := float64(ms) / 1000
	wave := func(i uint64, amp, period float64) float64 {
		return amp * math.Sin(2*math.Pi*t/period+2*math.Pi*unit(mix(s.seed+i)))
	}
	x := wave(1, 0.06, 9.3*86400) + wave(2, 0.025, 1.7*86400) + wave(3, 0.008, 3.1*3600) + wave(4, 0.002, 7*60)
	return s.base * math.Exp(x)
}

type candle struct {
	open, tf         int64 // ms
	o, h, l, c, v, q float64
	count            int64
	partial          bool
}

// candle derives the candle opening at open; the one containing now is
// partial (closes at the price of now, with the volume so far).
func (s series) candle(open, tf, now int64) candle {
	if s.keys != nil {
		s.keys.candle(open, tf)
	}
	end, partial := open+tf, open+tf > now
	if partial {
		end = max(now, open)
	}
	o, c := s.price(open), s.price(end)
	h, l := math.Max(o, c), math.Min(o, c)
	for i := int64(1); i < 4; i++ {
		p := s.price(open + (end-open)*i/4)
		h, l = math.Max(h, p), math.Min(l, p)
	}
	r := mix(s.seed ^ mix(uint64(open)) ^ uint64(tf))
	h *= 1 + 0.002*unit(r)
	l *= 1 - 0.002*unit(mix(r+1))
	frac := float64(end-open) / float64(tf)
	v := s.volPerMin * float64(tf) / 60000 * (0.3 + 1.4*unit(mix(r+2))) * frac
	n := int64(v/s.amount) + 1
	if frac == 0 {
		v, n = 0, 0
	}
	return candle{open: open, tf: tf, o: o, h: h, l: l, c: c, v: v, q: v * (o + c) / 2, count: n, partial: partial}
}

// prices formats a candle's prices, keeping low <= open, close <= high
// after rounding.
func (k candle) prices(f decFormat) (o, h, l, c string) {
	ro, rc := roundTo(k.o, f.round), roundTo(k.c, f.round)
	rh := math.Max(roundTo(k.h, f.round), math.Max(ro, rc))
	rl := math.Min(roundTo(k.l, f.round), math.Min(ro, rc))
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

func (f decFormat) s(x float64) string { return fmtDec(roundTo(x, f.round), f.print) }

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

// trade derives the k-th trade: it falls in [k*spacing, (k+1)*spacing), so
// trades are strictly increasing in time and k.
func (s series) trade(k int64) trade {
	r := mix(s.seed*7 + uint64(k))
	us := k*s.spacing + int64(unit(r)*float64(s.spacing))
	p := s.price(us/1000) * (1 + 0.0004*(unit(mix(r+1))-0.5))
	u := unit(mix(r + 2))
	return trade{k: k, us: us, price: p, amount: s.amount * (0.05 + 2*u*u), buy: mix(r+3)&1 == 0}
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
// +1 for asks). Each level is the recorded row shape with price at index 0
// and size at index 1.
func bookSide(recorded []any, n int, dir float64, seed uint64) []any {
	out := make([]any, 0, n)
	if len(recorded) == 0 {
		return out
	}
	for i := 0; i < n && i < len(recorded); i++ {
		out = append(out, clone(recorded[i]))
	}
	last, _ := recorded[len(recorded)-1].([]any)
	if len(last) < 2 {
		return out
	}
	pdec := decimals(last[0])
	tick := math.Pow10(-pdec)
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
	step = math.Max(step, tick)
	p := num(last[0])
	for i := len(out); i < n; i++ {
		r := mix(seed + uint64(i)*0x9e37)
		p += dir * step * float64(1+int(unit(r)*4))
		if p <= 0 {
			break
		}
		src, _ := recorded[i%len(recorded)].([]any)
		row := clone(last).([]any)
		row[0] = like(last[0], fmtDec(roundTo(p, pdec), pdec))
		row[1] = likeDec(src[1], num(src[1])*(0.5+unit(mix(r))))
		if num(row[1]) == 0 {
			row[1] = like(src[1], fmtDec(math.Pow10(-decimals(src[1])), decimals(src[1])))
		}
		out = append(out, row)
	}
	return out
}

// itoa shortens strconv calls in the exchange files.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uuidFrom makes a stable UUID-shaped id (Bybit execId).
func uuidFrom(a, b uint64) string {
	x, y := mix(a), mix(b^0x5bd1e995)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", x>>32, (x>>16)&0xffff, 0x5000|(x&0x0fff), 0x8000|(y>>48)&0x3fff, y&0xffffffffffff)
}
