package replay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

var binanceIntervals = map[string]int64{"1m": minute, "3m": 3 * minute, "5m": 5 * minute, "15m": 15 * minute,
	"30m": 30 * minute, "1h": hour, "2h": 2 * hour, "4h": 4 * hour, "6h": 6 * hour, "8h": 8 * hour,
	"12h": 12 * hour, "1d": day, "3d": 3 * day, "1w": week}

func binanceDef() *exchangeDef {
	d := &exchangeDef{
		name:  "binance",
		files: []string{"markets", "ticker", "orderbook", "ohlcv", "trades", "aggtrades"},
		ids:   func(s symbol) []string { return []string{s.Base + s.Quote} },
		// REQUEST_WEIGHT 6000 per calendar minute per IP, on Binance's
		// clock; X-MBX-USED-WEIGHT-1M reports the minute's count.
		rate: map[string]rateSpec{"": {limit: 6000, window: time.Minute, kind: kindFixed}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol:
				return jsonReply(http.StatusBadRequest, object{{"code", n("-1121")}, {"msg", "Invalid symbol."}})
			case errNotFound:
				return jsonReply(http.StatusNotFound, object{{"code", n("-1000")}, {"msg", msg}})
			}
			return jsonReply(http.StatusBadRequest, object{{"code", n("-1102")}, {"msg", msg}})
		},
		limited: func(c *call, retry time.Duration) reply {
			rp := jsonReply(http.StatusTooManyRequests, object{{"code", n("-1003")},
				{"msg", "Too many requests; current limit of IP request weight per minute is 6000. Please use WebSocket Streams for live updates to avoid polling the API."}})
			rp.header = retryHeader(retry)
			return rp
		},
		// "Repeatedly violating rate limits and/or failing to back off after
		// receiving 429s will result in an automated IP ban (HTTP status
		// 418)", for 2 minutes to 3 days.
		banned: func(c *call, retry time.Duration) reply {
			until := c.h.now().Add(retry).UnixMilli()
			return jsonReply(http.StatusTeapot, object{{"code", n("-1003")},
				{"msg", "Way too much request weight used; IP banned until " + itoa(until) + ". Please use WebSocket Streams for live updates to avoid bans."}})
		},
		headers: func(h http.Header, used, _ int, _ time.Duration) {
			h.Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
		},
		params: func(x *exchange) (seriesParams, error) {
			t, _ := x.tmpl["ticker"].(object)
			k := firstRow(x.tmpl["ohlcv"])
			a := firstObj(x.tmpl["aggtrades"])
			if t == nil || len(k) < 6 || a == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			return seriesParams{anchor: integer(t.get("closeTime")), price: num(t.get("lastPrice")),
				amount: num(a.get("q"))}, nil
		},
	}
	d.routes = []route{
		{path: "/api/v3/exchangeInfo", kind: "markets", cost: fixed(20), serve: binanceMarkets},
		{path: "/api/v3/ticker/24hr", kind: "ticker", cost: binanceTickerWeight, serve: binanceTicker},
		{path: "/api/v3/depth", kind: "orderbook", cost: binanceDepthWeight, serve: binanceDepth},
		{path: "/api/v3/klines", kind: "ohlcv", cost: fixed(2), serve: binanceKlines},
		{path: "/api/v3/trades", kind: "trades", cost: fixed(25), serve: binanceTrades},
		{path: "/api/v3/aggTrades", kind: "trades", cost: fixed(4), serve: binanceAggTrades},
	}
	return d
}

func fixed(w int) func(url.Values) int { return func(url.Values) int { return w } }

// binanceSymbols reads symbol or symbols (a JSON array); nil means all.
func binanceSymbols(c *call) ([]symbol, *reply) {
	var ids []string
	if s := c.q.Get("symbol"); s != "" {
		ids = []string{s}
	} else if s := c.q.Get("symbols"); s != "" {
		if err := json.Unmarshal([]byte(s), &ids); err != nil || len(ids) == 0 {
			rp := c.fail(errBadParam, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
			return nil, &rp
		}
	} else {
		return c.x.syms, nil
	}
	out := make([]symbol, 0, len(ids))
	for _, id := range ids {
		s, found := c.x.byID[id]
		if !found {
			rp := c.fail(errUnknownSymbol, id)
			return nil, &rp
		}
		out = append(out, s)
	}
	return out, nil
}

func binanceMarkets(c *call) reply {
	syms, rp := binanceSymbols(c)
	if rp != nil {
		return *rp
	}
	body := c.tmpl("markets").(object)
	entry := firstObj(body.get("symbols"))
	list := perSymbol(entry, syms, func(e object, s symbol) any {
		e.set("symbol", c.x.id(s))
		e.set("baseAsset", s.Base)
		e.set("quoteAsset", s.Quote)
		return e
	})
	body.set("serverTime", n(itoa(c.now)))
	body.set("symbols", list)
	return ok(body, len(list))
}

func binanceTickerWeight(q url.Values) int {
	if q.Get("symbol") != "" {
		return 2
	}
	var ids []string
	if json.Unmarshal([]byte(q.Get("symbols")), &ids) == nil && len(ids) > 0 {
		switch {
		case len(ids) <= 20:
			return 2
		case len(ids) <= 100:
			return 40
		}
	}
	return 80
}

func binanceTicker(c *call) reply {
	syms, rp := binanceSymbols(c)
	if rp != nil {
		return *rp
	}
	tm := c.x.tmpl["ticker"].(object)
	shift := c.shift(integer(tm.get("closeTime")))
	one := func(s symbol) object {
		t := clone(tm).(object)
		t.set("symbol", c.x.id(s))
		t.set("openTime", shiftInt(t.get("openTime"), shift))
		t.set("closeTime", shiftInt(t.get("closeTime"), shift))
		return c.tickerAt(t, s, tm.get("lastPrice")).(object)
	}
	if c.q.Get("symbol") != "" {
		return ok(one(syms[0]), 1)
	}
	list := make([]any, 0, len(syms))
	for _, s := range syms {
		list = append(list, one(s))
	}
	return ok(list, len(list))
}

func binanceDepthLimit(q url.Values) int {
	l, err := strconv.Atoi(q.Get("limit"))
	if err != nil || l <= 0 {
		return 100
	}
	return min(l, 5000)
}

func binanceDepthWeight(q url.Values) int {
	switch l := binanceDepthLimit(q); {
	case l <= 100:
		return 5
	case l <= 500:
		return 25
	case l <= 1000:
		return 50
	}
	return 250
}

func binanceDepth(c *call) reply {
	s, _, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	limit := binanceDepthLimit(c.q)
	b := c.tmpl("orderbook").(object)
	// The recorded book carries no time: its update id moves with the clock.
	b.set("lastUpdateId", shiftInt(b.get("lastUpdateId"), c.shift(c.x.anchor)/100))
	levels := c.book(&b, s, "bids", "asks", limit)
	return ok(b, levels)
}

func binanceKlines(c *call) reply {
	s, _, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	tf, found := binanceIntervals[c.q.Get("interval")]
	if !found {
		return jsonReply(http.StatusBadRequest, object{{"code", n("-1120")}, {"msg", "Invalid interval."}})
	}
	a := c.args()
	start := a.int("startTime", -1)
	end := a.int("endTime", -1)
	limit := a.limit("limit", 500, 1000)
	if a.bad != nil {
		return *a.bad
	}
	// With startTime the page runs forward from it; otherwise it is the
	// most recent candles up to endTime (or now).
	times := c.candleTimes(tf, start, end, limit, start < 0)
	tr := firstRow(c.x.tmpl["ohlcv"])
	pdec, vdec, qdec := priceFormat(tr[1:5]...), decimals(tr[5]), decimals(tr[7])
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	for _, t := range times {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		rows = append(rows, []any{
			like(tr[0], itoa(t)), like(tr[1], o), like(tr[2], h), like(tr[3], l), like(tr[4], cl),
			like(tr[5], fmtDec(k.v, vdec)), like(tr[6], itoa(t+tf-1)), like(tr[7], fmtDec(k.q, qdec)),
			like(tr[8], itoa(k.count)), like(tr[9], fmtDec(k.v/2, vdec)), like(tr[10], fmtDec(k.q/2, qdec)), clone(tr[11]),
		})
	}
	return ok(rows, len(rows))
}

func binanceTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("symbol")
	limit := a.limit("limit", 500, 1000)
	if a.bad != nil {
		return *a.bad
	}
	tm := firstObj(c.x.tmpl["trades"])
	base := c.x.idBase(tm.get("id"), integer(tm.get("time")))
	pdec, qdec, qqdec := priceFormat(tm.get("price")), decimals(tm.get("qty")), decimals(tm.get("quoteQty"))
	list := []any{}
	for _, t := range c.trades(c.series(s), -1, -1, limit, true) {
		o := clone(tm).(object)
		o.set("id", like(tm.get("id"), itoa(base+t.k)))
		o.set("price", like(tm.get("price"), pdec.s(t.price)))
		o.set("qty", like(tm.get("qty"), fmtDec(t.amount, qdec)))
		o.set("quoteQty", like(tm.get("quoteQty"), fmtDec(t.price*t.amount, qqdec)))
		o.set("time", like(tm.get("time"), itoa(t.us/1000)))
		o.set("isBuyerMaker", !t.buy)
		list = append(list, o)
	}
	return ok(list, len(list))
}

func binanceAggTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("symbol")
	limit := a.limit("limit", 500, 1000)
	start := a.int("startTime", -1)
	end := a.int("endTime", -1)
	fromID := a.int("fromId", -1)
	if a.bad != nil {
		return *a.bad
	}
	tm := firstObj(c.x.tmpl["aggtrades"])
	recMs := integer(tm.get("T"))
	aBase, fBase := c.x.idBase(tm.get("a"), recMs), c.x.idBase(tm.get("f"), recMs)
	ser := c.series(s)
	var trades []trade
	switch {
	case fromID >= 0:
		lo := fromID - aBase
		hi := min(ser.lastTrade(c.now*1000), lo+int64(limit)-1)
		trades = ser.tradeRange(max(lo, ser.firstTrade(historyStart*1000)), hi)
	case start >= 0 && end >= 0:
		if end-start > hour {
			return jsonReply(http.StatusBadRequest, object{{"code", n("-1127")}, {"msg", "More than 1 hours between startTime and endTime."}})
		}
		trades = c.trades(ser, start*1000, end*1000+999, limit, false)
	case start >= 0:
		trades = c.trades(ser, start*1000, -1, limit, false)
	case end >= 0:
		trades = c.trades(ser, -1, end*1000+999, limit, true)
	default:
		trades = c.trades(ser, -1, -1, limit, true)
	}
	pdec, qdec := priceFormat(tm.get("p")), decimals(tm.get("q"))
	list := make([]any, 0, len(trades))
	for _, t := range trades {
		o := clone(tm).(object)
		o.set("a", like(tm.get("a"), itoa(aBase+t.k)))
		o.set("p", like(tm.get("p"), pdec.s(t.price)))
		o.set("q", like(tm.get("q"), fmtDec(t.amount, qdec)))
		o.set("f", like(tm.get("f"), itoa(fBase+t.k)))
		o.set("l", like(tm.get("l"), itoa(fBase+t.k)))
		o.set("T", like(tm.get("T"), itoa(t.us/1000)))
		o.set("m", !t.buy) // buyer is maker: the taker sold
		list = append(list, o)
	}
	return ok(list, len(list))
}
