package replay

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

var bitstampSteps = map[int64]bool{60: true, 180: true, 300: true, 900: true, 1800: true, 3600: true, 7200: true,
	14400: true, 21600: true, 43200: true, 86400: true, 259200: true}

func bitstampDef() *exchangeDef {
	d := &exchangeDef{
		name:  "bitstamp",
		files: []string{"markets", "markets-v2", "ticker", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{strings.ToLower(s.Base + s.Quote)} },
		// 10000 requests per 10 minutes per client (and 400 per second).
		// 10,000 per 10 minutes (the binding one of its two limits), read
		// as rolling.
		rate: map[string]rateSpec{"": {limit: 10000, window: 10 * time.Minute, kind: kindSliding}},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol, errNotFound:
				return jsonReply(http.StatusNotFound, object{{"status", "error"}, {"reason", "Not found"}, {"code", "404.002"}})
			}
			return jsonReply(http.StatusBadRequest, object{{"status", "error"}, {"reason", msg}, {"code", "400.002"}})
		},
		limited: func(c *call, retry time.Duration) reply {
			return jsonReply(http.StatusTooManyRequests, object{{"status", "error"}, {"reason", "Rate limit exceeded"}, {"code", "400.002"}})
		},
		params: func(x *exchange) (seriesParams, error) {
			t, _ := x.tmpl["ticker"].(object)
			k := firstObj(x.tmpl["ohlcv"].(object).obj("data").get("ohlc"))
			tr := firstObj(x.tmpl["trades"])
			if t == nil || k == nil || tr == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			return seriesParams{anchor: integer(t.get("timestamp")) * 1000, price: num(t.get("last")),
				amount: num(tr.get("amount"))}, nil
		},
	}
	d.routes = []route{
		// Both market lists are live: /api/v2/markets/ is the current one
		// ("Market info" in Bitstamp's API v2 reference, with market_type),
		// trading-pairs-info/ the older one CCXT still reads.
		{path: "/api/v2/markets/", kind: "markets", serve: bitstampMarkets},
		{path: "/api/v2/trading-pairs-info/", kind: "markets", serve: bitstampPairs},
		{path: "/api/v2/ticker/{pair}/", kind: "ticker", serve: bitstampTicker},
		{path: "/api/v2/ticker/", kind: "ticker", serve: bitstampTickers},
		{path: "/api/v2/order_book/{pair}/", kind: "orderbook", serve: bitstampBook},
		{path: "/api/v2/ohlc/{pair}/", kind: "ohlcv", serve: bitstampOHLC},
		{path: "/api/v2/transactions/{pair}/", kind: "trades", serve: bitstampTransactions},
	}
	return d
}

func bitstampPairs(c *call) reply {
	tm := firstObj(c.x.tmpl["markets"])
	list := perSymbol(tm, c.x.syms, func(e object, s symbol) any {
		e.set("name", s.String())
		e.set("url_symbol", c.x.id(s))
		e.set("minimum_order", "10 "+s.Quote)
		e.set("description", s.Base+" / "+s.Quote)
		return e
	})
	return ok(list, len(list))
}

// bitstampMarkets is /api/v2/markets/: one row per market, in the
// documented shape (market_symbol, base_currency, counter_currency,
// market_type).
func bitstampMarkets(c *call) reply {
	tm := firstObj(c.x.tmpl["markets-v2"])
	list := perSymbol(tm, c.x.syms, func(e object, s symbol) any {
		e.set("name", s.String())
		e.set("market_symbol", c.x.id(s))
		e.set("base_currency", s.Base)
		e.set("counter_currency", s.Quote)
		e.set("description", s.Base+" / "+s.Quote)
		return e
	})
	return ok(list, len(list))
}

func (c *call) bitstampTickerFor(s symbol) object {
	t := c.tmpl("ticker").(object)
	t.set("timestamp", shiftInt(t.get("timestamp"), c.shift(integer(t.get("timestamp"))*1000)/1000))
	return c.tickerAt(t, s, t.get("last")).(object)
}

func bitstampTicker(c *call) reply {
	s, _, rp := c.symbol("pair")
	if rp != nil {
		return *rp
	}
	return ok(c.bitstampTickerFor(s), 1)
}

// bitstampTickers is every pair's ticker; each carries its "pair", as the
// all-pairs endpoint does.
func bitstampTickers(c *call) reply {
	list := make([]any, 0, len(c.x.syms))
	for _, s := range c.x.syms {
		t := c.bitstampTickerFor(s)
		t.set("pair", s.String())
		list = append(list, t)
	}
	return ok(list, len(list))
}

func bitstampBook(c *call) reply {
	s, _, rp := c.symbol("pair")
	if rp != nil {
		return *rp
	}
	b := c.tmpl("orderbook").(object)
	micro := shiftInt(b.get("microtimestamp"), c.shift(integer(b.get("microtimestamp"))/1000)*1000)
	b.set("microtimestamp", micro)
	b.set("timestamp", like(b.get("timestamp"), itoa(integer(micro)/1_000_000)))
	levels := c.book(&b, s, "bids", "asks", 100)
	return ok(b, levels)
}

// bitstampOHLC: oldest first. With start, the limit candles from start;
// otherwise the limit candles ending at end (or now).
func bitstampOHLC(c *call) reply {
	a := c.args()
	s, _ := a.symbol("pair")
	step := a.int("step", 0)
	a.check(bitstampSteps[step], errBadParam, "Invalid step")
	limit := a.int("limit", 0)
	a.check(limit >= 1 && limit <= 1000, errBadParam, "limit: must be between 1 and 1000")
	start := a.int("start", -1)
	end := a.int("end", -1)
	if a.bad != nil {
		return *a.bad
	}
	tf := step * 1000
	from, to := int64(-1), int64(-1)
	if start >= 0 {
		from = start * 1000
	}
	if end >= 0 {
		to = end * 1000
	}
	if c.q.Get("exclude_current_candle") == "true" {
		cur := alignDown(c.now, tf) - tf
		if to < 0 || to > cur {
			to = cur
		}
	}
	times := c.candleTimes(tf, from, to, int(limit), start < 0)
	body := c.tmpl("ohlcv").(object)
	data := body.obj("data")
	tm := firstObj(data.get("ohlc"))
	pdec, vdec := priceFormat(tm.get("open"), tm.get("high"), tm.get("low"), tm.get("close")), decimals(tm.get("volume"))
	ser := c.series(s)
	rows := make([]any, 0, len(times))
	for _, t := range times {
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		e := clone(tm).(object)
		e.set("timestamp", like(tm.get("timestamp"), itoa(t/1000)))
		e.set("open", like(tm.get("open"), o))
		e.set("high", like(tm.get("high"), h))
		e.set("low", like(tm.get("low"), l))
		e.set("close", like(tm.get("close"), cl))
		e.set("volume", like(tm.get("volume"), fmtDec(k.v, vdec)))
		rows = append(rows, e)
	}
	data.set("pair", s.String())
	data.set("ohlc", rows)
	return ok(body, len(rows))
}

// bitstampTransactions: every trade of the last minute, hour (default) or
// day, newest first.
func bitstampTransactions(c *call) reply {
	s, _, rp := c.symbol("pair")
	if rp != nil {
		return *rp
	}
	span := hour
	switch c.q.Get("time") {
	case "", "hour":
	case "minute":
		span = minute
	case "day":
		span = day
	default:
		return c.fail(errBadParam, "time: must be minute, hour or day")
	}
	tm := firstObj(c.x.tmpl["trades"])
	base := c.x.idBase(tm.get("tid"), integer(tm.get("date"))*1000)
	pdec, adec := priceFormat(tm.get("price")), decimals(tm.get("amount"))
	// Every trade of the window, however many: at a high trade rate the
	// minute alone holds thousands.
	ser := c.series(s)
	trades := c.trades(ser, (c.now-span)*1000+1, -1, int(span*1000/ser.spacing)+2, false)
	list := make([]any, 0, len(trades))
	for _, t := range reverse(trades) {
		e := clone(tm).(object)
		e.set("amount", like(tm.get("amount"), fmtDec(t.amount, adec)))
		e.set("date", like(tm.get("date"), itoa(t.us/1_000_000)))
		e.set("price", like(tm.get("price"), pdec.s(t.price)))
		e.set("tid", like(tm.get("tid"), itoa(base+t.k)))
		typ := "1"
		if t.buy {
			typ = "0"
		}
		e.set("type", like(tm.get("type"), typ))
		list = append(list, e)
	}
	return ok(list, len(list))
}
