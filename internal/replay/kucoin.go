package replay

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

var kucoinTypes = map[string]int64{"1min": minute, "3min": 3 * minute, "5min": 5 * minute, "15min": 15 * minute,
	"30min": 30 * minute, "1hour": hour, "2hour": 2 * hour, "4hour": 4 * hour, "6hour": 6 * hour,
	"8hour": 8 * hour, "12hour": 12 * hour, "1day": day, "1week": week}

func kucoinDef() *exchangeDef {
	d := &exchangeDef{
		name:  "kucoin",
		files: []string{"markets", "ticker", "tickers", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{s.Base + "-" + s.Quote} },
		// The public resource pool: 2000 weight per 30 seconds.
		// The public resource pool: 2000 per 30 s per IP; KuCoin does not
		// say the window is aligned, so it rolls.
		rate: map[string]rateSpec{"": {limit: 2000, window: 30 * time.Second, kind: kindSliding}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol:
				return jsonReply(http.StatusBadRequest, object{{"code", "400100"}, {"msg", "This pair is not provided at present"}})
			case errNotFound:
				return jsonReply(http.StatusNotFound, object{{"code", "404000"}, {"msg", "Url Not Found"}})
			}
			return jsonReply(http.StatusBadRequest, object{{"code", "400100"}, {"msg", msg}})
		},
		limited: func(c *call, retry time.Duration) reply {
			return jsonReply(http.StatusTooManyRequests, object{{"code", "429000"}, {"msg", "Too Many Requests"}})
		},
		headers: func(h http.Header, used, limit int, reset time.Duration) {
			h.Set("gw-ratelimit-limit", strconv.Itoa(limit))
			h.Set("gw-ratelimit-remaining", strconv.Itoa(max(limit-used, 0)))
			h.Set("gw-ratelimit-reset", itoa(reset.Milliseconds()))
		},
		params: func(x *exchange) (seriesParams, error) {
			t := x.tmpl["ticker"].(object).obj("data")
			k := firstRow(x.tmpl["ohlcv"].(object).get("data"))
			tr := firstObj(x.tmpl["trades"].(object).get("data"))
			if t == nil || len(k) < 6 || tr == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			return seriesParams{anchor: integer(t.get("time")), price: num(t.get("last")),
				amount: num(tr.get("size"))}, nil
		},
	}
	d.routes = []route{
		{path: "/api/v2/symbols", kind: "markets", cost: fixed(4), serve: kucoinSymbols},
		{path: "/api/v1/market/stats", kind: "ticker", cost: fixed(15), serve: kucoinStats},
		{path: "/api/v1/market/allTickers", kind: "ticker", cost: fixed(15), serve: kucoinAllTickers},
		{path: "/api/v1/market/orderbook/level2_20", kind: "orderbook", cost: fixed(2), serve: kucoinBook(20)},
		{path: "/api/v1/market/orderbook/level2_100", kind: "orderbook", cost: fixed(4), serve: kucoinBook(100)},
		{path: "/api/v1/market/candles", kind: "ohlcv", cost: fixed(3), serve: kucoinCandles},
		{path: "/api/v1/market/histories", kind: "trades", cost: fixed(3), serve: kucoinHistories},
	}
	return d
}

func kucoinSymbols(c *call) reply {
	body := c.tmpl("markets").(object)
	entry := firstObj(body.get("data"))
	list := perSymbol(entry, c.x.syms, func(e object, s symbol) any {
		id := c.x.id(s)
		e.set("symbol", id)
		e.set("name", id)
		e.set("baseCurrency", s.Base)
		e.set("quoteCurrency", s.Quote)
		e.set("feeCurrency", s.Quote)
		return e
	})
	body.set("data", list)
	return ok(body, len(list))
}

func kucoinStats(c *call) reply {
	s, id, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	body := c.tmpl("ticker").(object)
	data := body.obj("data")
	c.tickerAt(data, s, data.get("last"))
	data.set("time", shiftInt(data.get("time"), c.shift(integer(data.get("time")))))
	data.set("symbol", id)
	return ok(body, 1)
}

func kucoinAllTickers(c *call) reply {
	body := c.tmpl("tickers").(object)
	data := body.obj("data")
	data.set("time", shiftInt(data.get("time"), c.shift(integer(data.get("time")))))
	entry := firstObj(data.get("ticker"))
	list := perSymbol(entry, c.x.syms, func(e object, s symbol) any {
		e.set("symbol", c.x.id(s))
		e.set("symbolName", c.x.id(s))
		return c.tickerAt(e, s, e.get("last"))
	})
	data.set("ticker", list)
	return ok(body, len(list))
}

func kucoinBook(depth int) func(c *call) reply {
	return func(c *call) reply {
		s, _, rp := c.symbol("symbol")
		if rp != nil {
			return *rp
		}
		body := c.tmpl("orderbook").(object)
		data := body.obj("data")
		shift := c.shift(integer(data.get("time")))
		data.set("time", shiftInt(data.get("time"), shift))
		data.set("sequence", shiftInt(data.get("sequence"), shift/100))
		return ok(body, c.book(&data, s, "bids", "asks", depth))
	}
}

func kucoinCandles(c *call) reply {
	a := c.args()
	s, _ := a.symbol("symbol")
	tf, found := kucoinTypes[c.q.Get("type")]
	a.check(found, errBadParam, "Unsupported type")
	start := a.int("startAt", 0)
	end := a.int("endAt", 0)
	if a.bad != nil {
		return *a.bad
	}
	from, to := int64(-1), int64(-1)
	if start > 0 {
		from = start * 1000
	}
	if end > 0 {
		to = end * 1000
	}
	// At most 1500 per request, newest first: page back with endAt.
	times := c.candleTimes(tf, from, to, 1500, true)
	body := c.tmpl("ohlcv").(object)
	tr := firstRow(body.get("data"))
	pdec, vdec, qdec := priceFormat(tr[1:5]...), decimals(tr[5]), decimals(tr[6])
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	for _, t := range reverse(times) {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		// KuCoin's order: time, open, close, high, low, volume, turnover.
		rows = append(rows, []any{like(tr[0], itoa(t/1000)), like(tr[1], o), like(tr[2], cl), like(tr[3], h),
			like(tr[4], l), like(tr[5], fmtDec(k.v, vdec)), like(tr[6], fmtDec(k.q, qdec))})
	}
	body.set("data", rows)
	return ok(body, len(rows))
}

func kucoinHistories(c *call) reply {
	s, _, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	body := c.tmpl("trades").(object)
	tm := firstObj(body.get("data"))
	recMs := integer(tm.get("time")) / 1_000_000
	base := c.x.idBase(tm.get("sequence"), recMs)
	pdec, sdec := priceFormat(tm.get("price")), decimals(tm.get("size"))
	list := []any{}
	for _, t := range c.trades(c.series(s), -1, -1, 100, true) {
		o := clone(tm).(object)
		o.set("sequence", like(tm.get("sequence"), itoa(base+t.k)))
		o.set("price", like(tm.get("price"), pdec.s(t.price)))
		o.set("size", like(tm.get("size"), fmtDec(t.amount, sdec)))
		side := "sell"
		if t.buy {
			side = "buy"
		}
		o.set("side", side)
		o.set("time", like(tm.get("time"), itoa(t.us*1000)))
		list = append(list, o)
	}
	body.set("data", list)
	return ok(body, len(list))
}
