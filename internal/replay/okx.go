package replay

import (
	"fmt"
	"net/http"
	"time"
)

var okxBars = map[string]int64{"1m": minute, "3m": 3 * minute, "5m": 5 * minute, "15m": 15 * minute, "30m": 30 * minute,
	"1H": hour, "2H": 2 * hour, "4H": 4 * hour, "6H": 6 * hour, "12H": 12 * hour, "1D": day, "1W": week,
	"6Hutc": 6 * hour, "12Hutc": 12 * hour, "1Dutc": day, "1Wutc": week}

// okxRate is one endpoint's limit per 2 s; OKX does not say whether the
// window rolls, so it does.
func okxRate(n int) rateSpec { return rateSpec{limit: n, window: 2 * time.Second, kind: kindSliding} }

func okxDef() *exchangeDef {
	d := &exchangeDef{
		name:  "okx",
		files: []string{"markets", "ticker", "orderbook", "ohlcv", "trades"},
		ids:   func(s symbol) []string { return []string{s.Base + "-" + s.Quote} },
		// OKX limits each endpoint separately, per IP, over 2 seconds.
		rate: map[string]rateSpec{
			"instruments": okxRate(20), "ticker": okxRate(20), "tickers": okxRate(20),
			"books": okxRate(40), "candles": okxRate(40), "history-candles": okxRate(20),
			"trades": okxRate(100), "history-trades": okxRate(20), "": okxRate(20),
		},
		fail: func(c *call, kind errKind, msg string) reply {
			switch kind {
			case errUnknownSymbol:
				return jsonReply(http.StatusBadRequest, object{{"code", "51001"}, {"data", []any{}}, {"msg", "Instrument ID does not exist"}})
			case errNotFound:
				return jsonReply(http.StatusNotFound, object{{"msg", "Not Found"}, {"code", "404"}})
			}
			return jsonReply(http.StatusBadRequest, object{{"code", "51000"}, {"data", []any{}}, {"msg", "Parameter " + msg + " error"}})
		},
		limited: func(c *call, retry time.Duration) reply {
			return jsonReply(http.StatusTooManyRequests, object{{"msg", "Too Many Requests"}, {"code", "50011"}})
		},
		params: func(x *exchange) (seriesParams, error) {
			t := firstObj(x.tmpl["ticker"].(object).get("data"))
			k := firstRow(x.tmpl["ohlcv"].(object).get("data"))
			tr := firstObj(x.tmpl["trades"].(object).get("data"))
			if t == nil || len(k) < 9 || tr == nil {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			return seriesParams{anchor: integer(t.get("ts")), price: num(t.get("last")),
				amount: num(tr.get("sz"))}, nil
		},
	}
	d.routes = []route{
		{path: "/api/v5/public/instruments", kind: "markets", group: "instruments", serve: okxInstruments},
		{path: "/api/v5/market/ticker", kind: "ticker", group: "ticker", serve: okxTicker},
		{path: "/api/v5/market/tickers", kind: "ticker", group: "tickers", serve: okxTickers},
		{path: "/api/v5/market/books", kind: "orderbook", group: "books", serve: okxBooks},
		{path: "/api/v5/market/candles", kind: "ohlcv", group: "candles", serve: okxCandles(300, 1440)},
		{path: "/api/v5/market/history-candles", kind: "ohlcv", group: "history-candles", serve: okxCandles(100, 0)},
		{path: "/api/v5/market/trades", kind: "trades", group: "trades", serve: okxTrades},
		{path: "/api/v5/market/history-trades", kind: "trades", group: "history-trades", serve: okxHistoryTrades},
	}
	return d
}

func okxSpotOnly(c *call) *reply {
	if t := c.q.Get("instType"); t != "SPOT" {
		rp := c.fail(errBadParam, "instType")
		if t == "" {
			rp = jsonReply(http.StatusBadRequest, object{{"code", "50014"}, {"data", []any{}}, {"msg", "Parameter instType can not be empty."}})
		}
		return &rp
	}
	return nil
}

func okxInstruments(c *call) reply {
	if rp := okxSpotOnly(c); rp != nil {
		return *rp
	}
	syms := c.x.syms
	if c.q.Get("instId") != "" {
		s, _, rp := c.symbol("instId")
		if rp != nil {
			return *rp
		}
		syms = []symbol{s}
	}
	body := c.tmpl("markets").(object)
	entry := firstObj(body.get("data"))
	list := perSymbol(entry, syms, func(e object, s symbol) any {
		e.set("baseCcy", s.Base)
		e.set("quoteCcy", s.Quote)
		e.set("instId", c.x.id(s))
		return e
	})
	body.set("data", list)
	return ok(body, len(list))
}

func (c *call) okxTickerFor(s symbol) object {
	t := clone(firstObj(c.x.tmpl["ticker"].(object).get("data"))).(object)
	t.set("instId", c.x.id(s))
	t.set("ts", shiftInt(t.get("ts"), c.shift(integer(t.get("ts")))))
	return c.tickerAt(t, s, t.get("last")).(object)
}

func okxTicker(c *call) reply {
	s, _, rp := c.symbol("instId")
	if rp != nil {
		return *rp
	}
	body := c.tmpl("ticker").(object)
	body.set("data", []any{c.okxTickerFor(s)})
	return ok(body, 1)
}

func okxTickers(c *call) reply {
	if rp := okxSpotOnly(c); rp != nil {
		return *rp
	}
	body := c.tmpl("ticker").(object)
	list := make([]any, 0, len(c.x.syms))
	for _, s := range c.x.syms {
		list = append(list, c.okxTickerFor(s))
	}
	body.set("data", list)
	return ok(body, len(list))
}

func okxBooks(c *call) reply {
	a := c.args()
	s, _ := a.symbol("instId")
	sz := a.limit("sz", 1, 400)
	if a.bad != nil {
		return *a.bad
	}
	body := c.tmpl("orderbook").(object)
	b := firstObj(body.get("data"))
	b.set("ts", shiftInt(b.get("ts"), c.shift(integer(b.get("ts")))))
	return ok(body, c.book(&b, s, "bids", "asks", sz))
}

// okxCandles serves candles newest first. after returns older records
// (ts < after), before newer ones (ts > before); either way the page is the
// newest limit records of that window. recent > 0 limits the endpoint to
// the most recent candles, as /market/candles does (1440).
func okxCandles(maxLimit int, recent int64) func(c *call) reply {
	return func(c *call) reply {
		a := c.args()
		s, _ := a.symbol("instId")
		bar := c.q.Get("bar")
		if bar == "" {
			bar = "1m"
		}
		tf, found := okxBars[bar]
		a.check(found, errBadParam, "bar")
		limit := a.limit("limit", 100, maxLimit)
		after := a.int("after", -1)
		before := a.int("before", -1)
		if a.bad != nil {
			return *a.bad
		}
		from, to := int64(-1), int64(-1)
		if after >= 0 {
			to = after - 1
		}
		if before >= 0 {
			from = before + 1
		}
		if recent > 0 {
			from = max(from, alignDown(c.now, tf)-(recent-1)*tf)
		}
		times := c.candleTimes(tf, from, to, limit, true)
		body := c.tmpl("ohlcv").(object)
		tr := firstRow(body.get("data"))
		pdec, vdec, qdec := priceFormat(tr[1:5]...), decimals(tr[5]), decimals(tr[6])
		ser := c.series(s)
		rows := make([]any, 0, len(times))
		for _, t := range reverse(times) {
			k := ser.candle(t, tf, c.now)
			o, h, l, cl := k.prices(pdec)
			confirm := "1"
			if k.partial {
				confirm = "0"
			}
			q := fmtDec(k.q, qdec)
			rows = append(rows, []any{like(tr[0], itoa(t)), like(tr[1], o), like(tr[2], h), like(tr[3], l), like(tr[4], cl),
				like(tr[5], fmtDec(k.v, vdec)), like(tr[6], q), like(tr[7], q), like(tr[8], confirm)})
		}
		body.set("data", rows)
		return ok(body, len(rows))
	}
}

func (c *call) okxTradeRows(s symbol, trades []trade) []any {
	tm := firstObj(c.x.tmpl["trades"].(object).get("data"))
	base := c.x.idBase(tm.get("tradeId"), integer(tm.get("ts")))
	pdec, sdec := priceFormat(tm.get("px")), decimals(tm.get("sz"))
	rows := make([]any, 0, len(trades))
	for _, t := range reverse(trades) {
		e := clone(tm).(object)
		e.set("instId", c.x.id(s))
		side := "sell"
		if t.buy {
			side = "buy"
		}
		e.set("side", side)
		e.set("sz", like(tm.get("sz"), fmtDec(t.amount, sdec)))
		e.set("px", like(tm.get("px"), pdec.s(t.price)))
		e.set("tradeId", like(tm.get("tradeId"), itoa(base+t.k)))
		e.set("ts", like(tm.get("ts"), itoa(t.us/1000)))
		rows = append(rows, e)
	}
	return rows
}

func okxTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("instId")
	limit := a.limit("limit", 100, 500)
	if a.bad != nil {
		return *a.bad
	}
	body := c.tmpl("trades").(object)
	rows := c.okxTradeRows(s, c.trades(c.series(s), -1, -1, limit, true))
	body.set("data", rows)
	return ok(body, len(rows))
}

// okxHistoryTrades pages by trade id (type=1, the default) or by
// timestamp (type=2), newest first, like the candles.
func okxHistoryTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("instId")
	limit := a.limit("limit", 100, 100)
	after := a.int("after", -1)
	before := a.int("before", -1)
	if a.bad != nil {
		return *a.bad
	}
	ser := c.series(s)
	var trades []trade
	switch c.q.Get("type") {
	case "", "1":
		tm := firstObj(c.x.tmpl["trades"].(object).get("data"))
		base := c.x.idBase(tm.get("tradeId"), integer(tm.get("ts")))
		hi := ser.lastTrade(c.now * 1000)
		lo := ser.firstTrade(historyStart * 1000)
		if after >= 0 {
			hi = min(hi, after-base-1)
		}
		if before >= 0 {
			lo = max(lo, before-base+1)
		}
		trades = ser.tradeRange(clampRange(lo, hi, limit, true))
	case "2":
		from, to := int64(-1), int64(-1)
		if after >= 0 {
			to = after*1000 - 1
		}
		if before >= 0 {
			from = before*1000 + 1000
		}
		trades = c.trades(ser, from, to, limit, true)
	default:
		return c.fail(errBadParam, "type")
	}
	body := c.tmpl("trades").(object)
	rows := c.okxTradeRows(s, trades)
	body.set("data", rows)
	return ok(body, len(rows))
}
