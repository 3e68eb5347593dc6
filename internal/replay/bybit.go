package replay

import (
	"fmt"
	"net/http"
	"time"
)

var bybitIntervals = map[string]int64{"1": minute, "3": 3 * minute, "5": 5 * minute, "15": 15 * minute, "30": 30 * minute,
	"60": hour, "120": 2 * hour, "240": 4 * hour, "360": 6 * hour, "720": 12 * hour, "D": day, "W": week}

func bybitDef() *exchangeDef {
	d := &exchangeDef{
		name:  "bybit",
		files: []string{"markets", "tickers", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{s.Base + s.Quote} },
		// 600 requests per 5 seconds per IP; over it Bybit answers 403.
		// "600 requests within a 5-second window per IP": read as rolling.
		rate: map[string]rateSpec{"": {limit: 600, window: 5 * time.Second, kind: kindSliding}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol:
				msg = "Not supported symbols"
			case errNotFound:
				return reply{status: http.StatusNotFound, raw: []byte("404 page not found"), header: textPlain()}
			}
			return ok(object{{"retCode", n("10001")}, {"retMsg", msg}, {"result", object{}}, {"retExtInfo", object{}}, {"time", n(itoa(c.now))}}, 0)
		},
		limited: func(c *call, _ time.Duration) reply {
			return reply{status: http.StatusForbidden, raw: []byte("access too frequent"), header: textPlain()}
		},
		params: func(x *exchange) (seriesParams, error) {
			t := x.tmpl["tickers"].(object)
			tk := firstObj(t.obj("result").get("list"))
			k := firstRow(x.tmpl["ohlcv"].(object).obj("result").get("list"))
			tr := firstObj(x.tmpl["trades"].(object).obj("result").get("list"))
			if tk == nil || len(k) < 7 || tr == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			return seriesParams{anchor: integer(t.get("time")), price: num(tk.get("lastPrice")),
				amount: num(tr.get("size"))}, nil
		},
	}
	d.routes = []route{
		{path: "/v5/market/instruments-info", kind: "markets", serve: bybitInstruments},
		{path: "/v5/market/tickers", kind: "ticker", serve: bybitTickers},
		{path: "/v5/market/orderbook", kind: "orderbook", serve: bybitOrderbook},
		{path: "/v5/market/kline", kind: "ohlcv", serve: bybitKline},
		{path: "/v5/market/recent-trade", kind: "trades", serve: bybitTrades},
	}
	return d
}

func textPlain() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return h
}

// bybitArgs reads a request's parameters, the first of them the category
// every request names (only spot is served).
func bybitArgs(c *call) *args {
	a := c.args()
	a.check(c.q.Get("category") == "spot", errBadParam, "Illegal category")
	return a
}

// bybitBody is a template with the envelope's time moved to now.
func bybitBody(c *call, name string) object {
	body := c.tmpl(name).(object)
	body.set("time", shiftInt(body.get("time"), c.shift(integer(body.get("time")))))
	return body
}

// bybitSymbols is the optional symbol filter: all symbols without one.
func bybitSymbols(c *call, a *args) []symbol {
	if c.q.Get("symbol") == "" {
		return c.x.syms
	}
	s, _ := a.symbol("symbol")
	return []symbol{s}
}

func bybitInstruments(c *call) reply {
	a := bybitArgs(c)
	syms := bybitSymbols(c, a)
	if a.bad != nil {
		return *a.bad
	}
	body := bybitBody(c, "markets")
	res := body.obj("result")
	entry := firstObj(res.get("list"))
	list := perSymbol(entry, syms, func(e object, s symbol) any {
		e.set("symbol", c.x.id(s))
		e.set("baseCoin", s.Base)
		e.set("quoteCoin", s.Quote)
		return e
	})
	res.set("list", list)
	return ok(body, len(list))
}

func bybitTickers(c *call) reply {
	a := bybitArgs(c)
	syms := bybitSymbols(c, a)
	if a.bad != nil {
		return *a.bad
	}
	body := bybitBody(c, "tickers")
	res := body.obj("result")
	entry := firstObj(res.get("list"))
	list := perSymbol(entry, syms, func(e object, s symbol) any {
		e.set("symbol", c.x.id(s))
		return c.tickerAt(e, s, e.get("lastPrice"))
	})
	res.set("list", list)
	return ok(body, len(list))
}

func bybitOrderbook(c *call) reply {
	a := bybitArgs(c)
	s, id := a.symbol("symbol")
	limit := a.limit("limit", 1, 200)
	if a.bad != nil {
		return *a.bad
	}
	body := bybitBody(c, "orderbook")
	res := body.obj("result")
	shift := c.shift(integer(res.get("ts")))
	res.set("s", id)
	res.set("ts", shiftInt(res.get("ts"), shift))
	res.set("u", shiftInt(res.get("u"), shift/100))
	return ok(body, c.book(&res, s, "b", "a", limit))
}

// bybitKline: newest first. With end, the newest limit candles in
// [start, end]; with only start, the oldest limit from start; neither, the
// most recent.
func bybitKline(c *call) reply {
	a := bybitArgs(c)
	s, id := a.symbol("symbol")
	tf, found := bybitIntervals[c.q.Get("interval")]
	a.check(found, errBadParam, "Illegal interval")
	limit := a.limit("limit", 200, 1000)
	start := a.int("start", -1)
	end := a.int("end", -1)
	if a.bad != nil {
		return *a.bad
	}
	body := bybitBody(c, "ohlcv")
	times := c.candleTimes(tf, start, end, limit, end >= 0 || start < 0)
	res := body.obj("result")
	tr := firstRow(res.get("list"))
	pdec, vdec, qdec := priceFormat(tr[1:5]...), decimals(tr[5]), decimals(tr[6])
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	for _, t := range reverse(times) {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		rows = append(rows, []any{like(tr[0], itoa(t)), like(tr[1], o), like(tr[2], h), like(tr[3], l), like(tr[4], cl),
			like(tr[5], fmtDec(k.v, vdec)), like(tr[6], fmtDec(k.q, qdec))})
	}
	res.set("symbol", id)
	res.set("category", "spot")
	res.set("list", rows)
	return ok(body, len(rows))
}

func bybitTrades(c *call) reply {
	a := bybitArgs(c)
	s, id := a.symbol("symbol")
	limit := a.limit("limit", 60, 60)
	if a.bad != nil {
		return *a.bad
	}
	body := bybitBody(c, "trades")
	res := body.obj("result")
	tm := firstObj(res.get("list"))
	pdec, sdec := priceFormat(tm.get("price")), decimals(tm.get("size"))
	trades := c.trades(c.series(s), -1, -1, limit, true)
	list := make([]any, 0, len(trades))
	for _, t := range reverse(trades) {
		e := clone(tm).(object)
		e.set("execId", uuidFrom(hashString(id), uint64(t.k)))
		e.set("symbol", id)
		e.set("price", like(tm.get("price"), pdec.s(t.price)))
		e.set("size", like(tm.get("size"), fmtDec(t.amount, sdec)))
		side := "Sell"
		if t.buy {
			side = "Buy"
		}
		e.set("side", side)
		e.set("time", like(tm.get("time"), itoa(t.us/1000)))
		list = append(list, e)
	}
	res.set("category", "spot")
	res.set("list", list)
	return ok(body, len(list))
}
