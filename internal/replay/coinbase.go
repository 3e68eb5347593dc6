package replay

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

var coinbaseGranularities = map[int64]bool{60: true, 300: true, 900: true, 3600: true, 21600: true, 86400: true}

const coinbaseTime = "2006-01-02T15:04:05.000000Z"

func coinbaseDef() *exchangeDef {
	d := &exchangeDef{
		name:  "coinbaseexchange",
		files: []string{"markets", "ticker", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{s.Base + "-" + s.Quote} },
		// Public endpoints: 10 requests per second per IP.
		// A lazy-fill token bucket: 10 per second, bursts up to 15.
		rate: map[string]rateSpec{"": {limit: 10, window: time.Second, kind: kindBucket, burst: 15}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol, errNotFound:
				return jsonReply(http.StatusNotFound, object{{"message", "NotFound"}})
			}
			return jsonReply(http.StatusBadRequest, object{{"message", msg}})
		},
		limited: func(c *call, _ time.Duration) reply {
			return jsonReply(http.StatusTooManyRequests, object{{"message", "Public rate limit exceeded"}})
		},
		params: func(x *exchange) (seriesParams, error) {
			t, _ := x.tmpl["ticker"].(object)
			k := firstRow(x.tmpl["ohlcv"])
			tr := firstObj(x.tmpl["trades"])
			if t == nil || len(k) < 6 || tr == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			at, err := time.Parse(time.RFC3339Nano, str(t.get("time")))
			if err != nil {
				return seriesParams{}, fmt.Errorf("ticker time: %w", err)
			}
			return seriesParams{anchor: at.UnixMilli(), price: num(t.get("price")),
				amount: num(tr.get("size"))}, nil
		},
	}
	d.routes = []route{
		{path: "/products", kind: "markets", serve: coinbaseProducts},
		{path: "/products/{id}/ticker", kind: "ticker", serve: coinbaseTicker},
		{path: "/products/{id}/book", kind: "orderbook", serve: coinbaseBook},
		{path: "/products/{id}/candles", kind: "ohlcv", serve: coinbaseCandles},
		{path: "/products/{id}/trades", kind: "trades", serve: coinbaseTrades},
	}
	return d
}

// shiftISO moves an ISO-8601 time by ms, keeping microseconds.
func shiftISO(v any, ms int64) any {
	t, err := time.Parse(time.RFC3339Nano, str(v))
	if err != nil {
		return v
	}
	return t.Add(time.Duration(ms) * time.Millisecond).UTC().Format(coinbaseTime)
}

func isoMs(v any) int64 {
	t, err := time.Parse(time.RFC3339Nano, str(v))
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

func coinbaseProducts(c *call) reply {
	tm := firstObj(c.x.tmpl["markets"])
	list := perSymbol(tm, c.x.syms, func(e object, s symbol) any {
		e.set("id", c.x.id(s))
		e.set("base_currency", s.Base)
		e.set("quote_currency", s.Quote)
		e.set("display_name", c.x.id(s))
		return e
	})
	return ok(list, len(list))
}

func coinbaseTicker(c *call) reply {
	s, _, rp := c.symbol("id")
	if rp != nil {
		return *rp
	}
	t := c.tmpl("ticker").(object)
	t = c.tickerAt(t, s, t.get("price")).(object)
	shift := c.shift(isoMs(t.get("time")))
	t.set("time", shiftISO(t.get("time"), shift))
	t.set("trade_id", shiftInt(t.get("trade_id"), shift*1000/c.x.spacing))
	return ok(t, 1)
}

func coinbaseBook(c *call) reply {
	s, _, rp := c.symbol("id")
	if rp != nil {
		return *rp
	}
	depth := 1
	switch c.q.Get("level") {
	case "", "1":
	case "2":
		depth = 50
	default:
		return c.fail(errBadParam, "Invalid level (the replay serves levels 1 and 2)")
	}
	b := c.tmpl("orderbook").(object)
	shift := c.shift(isoMs(b.get("time")))
	b.set("time", shiftISO(b.get("time"), shift))
	b.set("sequence", shiftInt(b.get("sequence"), shift/10))
	levels := c.book(&b, s, "bids", "asks", depth)
	return ok(b, levels)
}

// coinbaseTimeParam reads an ISO-8601 time or unix seconds, in ms.
func coinbaseTimeParam(v string) (int64, bool) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return int64(n * 1000), true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// coinbaseCandles: newest first; start and end are used only together, and
// a range of more than 300 candles is refused.
func coinbaseCandles(c *call) reply {
	a := c.args()
	s, _ := a.symbol("id")
	g := a.int("granularity", 0)
	a.check(coinbaseGranularities[g], errBadParam, "Unsupported granularity")
	if a.bad != nil {
		return *a.bad
	}
	tf := g * 1000
	from, to := int64(-1), int64(-1)
	sv, ev := c.q.Get("start"), c.q.Get("end")
	if sv != "" && ev != "" {
		var ok1, ok2 bool
		from, ok1 = coinbaseTimeParam(sv)
		to, ok2 = coinbaseTimeParam(ev)
		if !ok1 || !ok2 {
			return c.fail(errBadParam, "Invalid start or end")
		}
		if to < from {
			return c.fail(errBadParam, "start must be before end")
		}
		if (alignDown(to, tf)-alignUp(from, tf))/tf+1 > 300 {
			return c.fail(errBadParam, "granularity too small for the requested time range. Count of aggregations requested exceeds 300")
		}
	}
	times := c.candleTimes(tf, from, to, 300, true)
	tr := firstRow(c.x.tmpl["ohlcv"])
	pf := priceFormat(tr[1:5]...)
	pdec := pf.round
	vdec := decimals(tr[5])
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	trim := func(v any, f float64, dec int) any {
		return like(v, strconv.FormatFloat(roundTo(f, dec), 'f', -1, 64))
	}
	for _, t := range reverse(times) {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pf)
		// Coinbase's order: time, low, high, open, close, volume.
		rows = append(rows, []any{like(tr[0], itoa(t/1000)), trim(tr[1], num(l), pdec), trim(tr[2], num(h), pdec),
			trim(tr[3], num(o), pdec), trim(tr[4], num(cl), pdec), trim(tr[5], k.v, vdec)})
	}
	return ok(rows, len(rows))
}

// coinbaseTrades pages by trade id: after=X gives older trades (id < X),
// before=X the newer page (id > X); newest first, with CB-BEFORE and
// CB-AFTER headers for the next requests.
func coinbaseTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("id")
	limit := a.limit("limit", 1000, 1000)
	after := a.int("after", -1)
	before := a.int("before", -1)
	if a.bad != nil {
		return *a.bad
	}
	tm := firstObj(c.x.tmpl["trades"])
	base := c.x.idBase(tm.get("trade_id"), isoMs(tm.get("time")))
	ser := c.series(s)
	hi := ser.lastTrade(c.now * 1000)
	lo := ser.firstTrade(historyStart * 1000)
	newest := true
	if after >= 0 {
		hi = min(hi, after-base-1)
	}
	if before >= 0 {
		lo = max(lo, before-base+1)
		newest = after >= 0
	}
	trades := ser.tradeRange(clampRange(lo, hi, limit, newest))
	var header http.Header
	if len(trades) > 0 {
		header = http.Header{}
		header.Set("Cb-Before", itoa(base+trades[len(trades)-1].k)) // newest: ask before= for newer trades
		header.Set("Cb-After", itoa(base+trades[0].k))              // oldest: ask after= for older trades
	}
	pdec, sdec := priceFormat(tm.get("price")), decimals(tm.get("size"))
	list := make([]any, 0, len(trades))
	for _, t := range reverse(trades) {
		e := clone(tm).(object)
		e.set("trade_id", like(tm.get("trade_id"), itoa(base+t.k)))
		side := "buy" // the maker's side: a taker sell hits a maker buy
		if t.buy {
			side = "sell"
		}
		e.set("side", side)
		e.set("size", like(tm.get("size"), fmtDec(t.amount, sdec)))
		e.set("price", like(tm.get("price"), pdec.s(t.price)))
		e.set("time", time.UnixMicro(t.us).UTC().Format(coinbaseTime))
		list = append(list, e)
	}
	rpl := ok(list, len(list))
	rpl.header = header
	return rpl
}
