package replay

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

var htxPeriods = map[string]int64{"1min": minute, "5min": 5 * minute, "15min": 15 * minute, "30min": 30 * minute,
	"60min": hour, "4hour": 4 * hour, "1day": day, "1week": week}

func htxDef() *exchangeDef {
	d := &exchangeDef{
		name:  "htx",
		files: []string{"markets", "ticker", "tickers", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{strings.ToLower(s.Base + s.Quote)} },
		// Market data: 800 requests per second per IP; other public
		// endpoints (reference data): 120 per 3 seconds. HTX does not say
		// whether the windows roll, so they do.
		rate: map[string]rateSpec{"": {limit: 800, window: time.Second, kind: kindSliding},
			"reference": {limit: 120, window: 3 * time.Second, kind: kindSliding}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol:
				msg = "invalid symbol"
			case errNotFound:
				return jsonReply(http.StatusNotFound, object{{"status", "error"}, {"err-code", "not-found"}, {"err-msg", msg}})
			}
			return ok(object{{"ts", n(itoa(c.now))}, {"status", "error"}, {"err-code", "invalid-parameter"}, {"err-msg", msg}}, 0)
		},
		limited: func(c *call, retry time.Duration) reply {
			return jsonReply(http.StatusTooManyRequests, object{{"status", "error"}, {"err-code", "too-many-requests"},
				{"err-msg", "Too many requests"}, {"data", nil}})
		},
		params: func(x *exchange) (seriesParams, error) {
			t := x.tmpl["ticker"].(object)
			k := firstObj(x.tmpl["ohlcv"].(object).get("data"))
			g := firstObj(x.tmpl["trades"].(object).get("data"))
			if t == nil || k == nil || g == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			tr := firstObj(g.get("data"))
			return seriesParams{anchor: integer(t.get("ts")), price: num(t.obj("tick").get("close")),
				amount: num(tr.get("amount"))}, nil
		},
	}
	d.routes = []route{
		{path: "/v1/common/symbols", kind: "markets", group: "reference", serve: htxSymbols},
		{path: "/market/detail/merged", kind: "ticker", serve: htxMerged},
		{path: "/market/tickers", kind: "ticker", serve: htxTickers},
		{path: "/market/depth", kind: "orderbook", serve: htxDepth},
		{path: "/market/history/kline", kind: "ohlcv", serve: htxKline},
		// Not in HTX's spot reference but served by api.huobi.pro and what
		// CCXT reads for spot by default: the kline rows, with from/to.
		{path: "/market/history/candles", kind: "ohlcv", serve: htxCandles},
		{path: "/market/history/trade", kind: "trades", serve: htxTrades},
	}
	return d
}

func htxSymbols(c *call) reply {
	body := c.tmpl("markets").(object)
	entry := firstObj(body.get("data"))
	list := perSymbol(entry, c.x.syms, func(e object, s symbol) any {
		e.set("base-currency", strings.ToLower(s.Base))
		e.set("quote-currency", strings.ToLower(s.Quote))
		e.set("symbol", c.x.id(s))
		return e
	})
	body.set("data", list)
	return ok(body, len(list))
}

func htxMerged(c *call) reply {
	s, id, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	body := c.tmpl("ticker").(object)
	c.tickerAt(body.obj("tick"), s, body.obj("tick").get("close"))
	shift := c.shift(integer(body.get("ts")))
	body.set("ch", "market."+id+".detail.merged")
	body.set("ts", shiftInt(body.get("ts"), shift))
	tick := body.obj("tick")
	tick.set("id", shiftInt(tick.get("id"), shift/100))
	tick.set("version", shiftInt(tick.get("version"), shift/100))
	return ok(body, 1)
}

func htxTickers(c *call) reply {
	body := c.tmpl("tickers").(object)
	body.set("ts", shiftInt(body.get("ts"), c.shift(integer(body.get("ts")))))
	entry := firstObj(body.get("data"))
	list := perSymbol(entry, c.x.syms, func(e object, s symbol) any {
		e.set("symbol", c.x.id(s))
		return c.tickerAt(e, s, e.get("close"))
	})
	body.set("data", list)
	return ok(body, len(list))
}

func htxDepth(c *call) reply {
	s, id, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	typ := c.q.Get("type")
	if len(typ) != 5 || !strings.HasPrefix(typ, "step") || typ[4] < '0' || typ[4] > '5' {
		return c.fail(errBadParam, "invalid type")
	}
	depth := int64(150)
	if typ != "step0" {
		depth = 20
	}
	if v := c.q.Get("depth"); v != "" {
		d, rp := c.intParam("depth", 0)
		if rp != nil {
			return *rp
		}
		if d != 5 && d != 10 && d != 20 {
			return c.fail(errBadParam, "invalid depth")
		}
		depth = d
	}
	body := c.tmpl("orderbook").(object)
	shift := c.shift(integer(body.get("ts")))
	body.set("ch", "market."+id+".depth."+typ)
	body.set("ts", shiftInt(body.get("ts"), shift))
	tick := body.obj("tick")
	tick.set("ts", shiftInt(tick.get("ts"), shift))
	tick.set("version", shiftInt(tick.get("version"), shift/100))
	return ok(body, c.book(&tick, s, "bids", "asks", int(depth)))
}

// htxKline is /market/history/kline: only the most recent size candles,
// newest first; HTX spot klines take no time range.
func htxKline(c *call) reply { return htxCandleRows(c, false) }

// htxCandles is /market/history/candles: the kline rows (newest first),
// bounded by from and to (open times, Unix seconds, inclusive). With from
// the page runs forward from it, otherwise it ends at to (or now).
func htxCandles(c *call) reply { return htxCandleRows(c, true) }

func htxCandleRows(c *call, ranged bool) reply {
	s, id, rp := c.symbol("symbol")
	if rp != nil {
		return *rp
	}
	period := c.q.Get("period")
	tf, found := htxPeriods[period]
	if !found {
		return c.fail(errBadParam, "invalid period")
	}
	size, rp := c.limitParam("size", 150, 2000)
	if rp != nil {
		return *rp
	}
	from, to := int64(-1), int64(-1)
	if ranged {
		for _, p := range []struct {
			name string
			dst  *int64
		}{{"from", &from}, {"to", &to}} {
			v, rp := c.intParam(p.name, -1)
			if rp != nil {
				return *rp
			}
			if v >= 0 {
				*p.dst = v * 1000
			}
		}
	}
	times := c.candleTimes(tf, from, to, size, from < 0)
	body := c.tmpl("ohlcv").(object)
	body.set("ch", "market."+id+".kline."+period)
	body.set("ts", like(body.get("ts"), itoa(c.now)))
	tm := firstObj(body.get("data"))
	pdec, adec, vdec := priceFormat(tm.get("open"), tm.get("close"), tm.get("low"), tm.get("high")), decimals(tm.get("amount")), decimals(tm.get("vol"))
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	for _, t := range reverse(times) {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		e := clone(tm).(object)
		e.set("id", like(tm.get("id"), itoa(t/1000)))
		e.set("open", like(tm.get("open"), o))
		e.set("close", like(tm.get("close"), cl))
		e.set("low", like(tm.get("low"), l))
		e.set("high", like(tm.get("high"), h))
		e.set("amount", like(tm.get("amount"), fmtDec(k.v, adec)))
		e.set("vol", like(tm.get("vol"), fmtDec(k.q, vdec)))
		e.set("count", like(tm.get("count"), itoa(k.count)))
		rows = append(rows, e)
	}
	body.set("data", rows)
	return ok(body, len(rows))
}

func htxTrades(c *call) reply {
	a := c.args()
	s, id := a.symbol("symbol")
	size := a.limit("size", 1, 2000)
	if a.bad != nil {
		return *a.bad
	}
	body := c.tmpl("trades").(object)
	body.set("ch", "market."+id+".trade.detail")
	body.set("ts", like(body.get("ts"), itoa(c.now)))
	gm := firstObj(body.get("data"))
	tm := firstObj(gm.get("data"))
	recMs := integer(tm.get("ts"))
	gBase, tBase := c.x.idBase(gm.get("id"), recMs), c.x.idBase(tm.get("trade-id"), recMs)
	pdec, adec := priceFormat(tm.get("price")), decimals(tm.get("amount"))
	trades := c.trades(c.series(s), -1, -1, size, true)
	groups := make([]any, 0, len(trades))
	for _, t := range reverse(trades) {
		ms := itoa(t.us / 1000)
		gid := itoa(gBase + t.k)
		e := clone(tm).(object)
		e.set("id", like(tm.get("id"), fmt.Sprintf("%s%016d", gid, mix(uint64(t.k))%1e16)))
		e.set("ts", like(tm.get("ts"), ms))
		e.set("trade-id", like(tm.get("trade-id"), itoa(tBase+t.k)))
		e.set("amount", like(tm.get("amount"), fmtDec(t.amount, adec)))
		e.set("price", like(tm.get("price"), pdec.s(t.price)))
		dir := "sell"
		if t.buy {
			dir = "buy"
		}
		e.set("direction", dir)
		g := clone(gm).(object)
		g.set("id", like(gm.get("id"), gid))
		g.set("ts", like(gm.get("ts"), ms))
		g.set("data", []any{e})
		groups = append(groups, g)
	}
	body.set("data", groups)
	return ok(body, len(groups))
}
