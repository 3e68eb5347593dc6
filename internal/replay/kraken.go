package replay

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

var krakenIntervals = map[int64]bool{1: true, 5: true, 15: true, 30: true, 60: true, 240: true, 1440: true, 10080: true, 21600: true}

func krakenDef() *exchangeDef {
	d := &exchangeDef{
		name:  "kraken",
		files: []string{"markets", "ticker", "orderbook", "ohlcv", "trades"},
		ids: func(s symbol) []string {
			ids := []string{krakenName(s)}
			for _, alt := range []string{krakenAltname(s), s.Base + s.Quote} {
				if alt != ids[0] {
					ids = append(ids, alt)
				}
			}
			return ids
		},
		// Public endpoints: "a frequency of 1 per second (or less)" per IP,
		// read as a token bucket of one.
		rate: map[string]rateSpec{"": {limit: 1, window: time.Second, kind: kindBucket, burst: 1}},
		fail: func(c *call, kind errKind, msg string) reply {
			// Kraken reports errors in a 200 body.
			switch kind {
			case errUnknownSymbol:
				return ok(object{{"error", []any{"EQuery:Unknown asset pair"}}}, 0)
			case errNotFound:
				return jsonReply(http.StatusNotFound, object{{"error", []any{"EGeneral:Unknown method"}}})
			}
			return ok(object{{"error", []any{"EGeneral:Invalid arguments"}}}, 0)
		},
		limited: func(c *call, _ time.Duration) reply {
			return jsonReply(http.StatusOK, object{{"error", []any{"EAPI:Rate limit exceeded"}}})
		},
		params: func(x *exchange) (seriesParams, error) {
			t := krakenFirst(x.tmpl["ticker"])
			k := firstRow(krakenFirst(x.tmpl["ohlcv"]))
			tr := firstRow(krakenFirst(x.tmpl["trades"]))
			if t == nil || len(k) < 7 || len(tr) < 7 {
				return seriesParams{}, fmt.Errorf("unexpected fixture shape")
			}
			c, _ := t.(object).get("c").([]any)
			return seriesParams{anchor: int64(num(tr[2]) * 1000), price: num(c[0]),
				amount: num(tr[1])}, nil
		},
	}
	d.routes = []route{
		{path: "/0/public/AssetPairs", kind: "markets", serve: krakenPairs},
		{path: "/0/public/Ticker", kind: "ticker", serve: krakenTicker},
		{path: "/0/public/Depth", kind: "orderbook", serve: krakenDepth},
		{path: "/0/public/OHLC", kind: "ohlcv", serve: krakenOHLC},
		{path: "/0/public/Trades", kind: "trades", serve: krakenTrades},
	}
	return d
}

// krakenFirst is the first pair's value in a {error, result: {PAIR: ...}} body.
func krakenFirst(body any) any {
	b, _ := body.(object)
	r := b.obj("result")
	for _, m := range r {
		if m.Key != "last" {
			return m.Value
		}
	}
	return nil
}

// krakenPairs reads the optional comma-separated pair list; nil means all.
func krakenPairs(c *call) reply {
	syms, rp := krakenPairList(c)
	if rp != nil {
		return *rp
	}
	body := c.tmpl("markets").(object)
	entry := krakenFirst(body).(object)
	result := object{}
	for _, s := range syms {
		e := clone(entry).(object)
		e.set("altname", krakenAltname(s))
		e.set("wsname", krakenCode(s.Base)+"/"+krakenCode(s.Quote))
		e.set("base", krakenAsset(s.Base))
		e.set("quote", krakenAsset(s.Quote))
		result = append(result, member{krakenName(s), e})
	}
	body.set("result", result)
	return ok(body, len(result))
}

func krakenPairList(c *call) ([]symbol, *reply) {
	p := c.q.Get("pair")
	if p == "" {
		return c.x.syms, nil
	}
	var out []symbol
	for _, id := range strings.Split(p, ",") {
		s, found := c.x.byID[strings.TrimSpace(id)]
		if !found {
			rp := c.fail(errUnknownSymbol, id)
			return nil, &rp
		}
		out = append(out, s)
	}
	return out, nil
}

func krakenTicker(c *call) reply {
	syms, rp := krakenPairList(c)
	if rp != nil {
		return *rp
	}
	body := c.tmpl("ticker").(object)
	entry := krakenFirst(body)
	result := object{}
	for _, s := range syms {
		e := clone(entry).(object)
		c0, _ := e.get("c").([]any) // the last trade: price, volume
		if len(c0) == 0 {
			c0 = []any{nil}
		}
		result = append(result, member{krakenName(s), c.tickerAt(e, s, c0[0])}) // Kraken's ticker carries no time
	}
	body.set("result", result)
	return ok(body, len(result))
}

func krakenDepth(c *call) reply {
	a := c.args()
	s, _ := a.symbol("pair")
	count := a.limit("count", 100, 500)
	if a.bad != nil {
		return *a.bad
	}
	body := c.tmpl("orderbook").(object)
	book := krakenFirst(body).(object)
	asks, bids := book.arr("asks"), book.arr("bids")
	shift := c.shift(integer(firstRow(asks)[2])*1000) / 1000
	seed := hashString(s.String())
	f := c.bookFactor(s, bids, asks)
	side := func(levels []any) []any {
		for _, l := range levels {
			row := l.([]any)
			row[2] = shiftInt(row[2], shift)
		}
		return levels
	}
	book.set("asks", side(bookSide(asks, count, 1, seed, f)))
	book.set("bids", side(bookSide(bids, count, -1, seed+1, f)))
	body.set("result", object{{krakenName(s), book}})
	return ok(body, len(book.arr("asks"))+len(book.arr("bids")))
}

func krakenOHLC(c *call) reply {
	a := c.args()
	s, _ := a.symbol("pair")
	iv := a.int("interval", 1)
	a.check(krakenIntervals[iv], errBadParam, "interval")
	since := a.int("since", -1)
	if a.bad != nil {
		return *a.bad
	}
	tf := iv * minute
	// Only the 720 most recent candles exist, the last one not yet
	// committed; since keeps those after it, but the current one always.
	cur := alignDown(c.now, tf)
	times := openTimes(cur-719*tf, cur, tf, 720, true)
	body := c.tmpl("ohlcv").(object)
	result := body.obj("result")
	tr := firstRow(krakenFirst(body))
	pdec, vdec := priceFormat(tr[1:5]...), decimals(tr[6])
	ser := c.series(s)
	rows := []any{}
	for _, t := range times {
		if since >= 0 && t/1000 <= since && t != cur {
			continue
		}
		k := ser.candle(t, tf, c.now)
		o, h, l, cl := k.prices(pdec)
		vwap := pdec.s((k.o + k.c + k.h + k.l) / 4)
		rows = append(rows, []any{like(tr[0], itoa(t/1000)), like(tr[1], o), like(tr[2], h), like(tr[3], l),
			like(tr[4], cl), like(tr[5], vwap), like(tr[6], fmtDec(k.v, vdec)), like(tr[7], itoa(k.count))})
	}
	last := result.get("last")
	body.set("result", object{{krakenName(s), rows}, {"last", like(last, itoa((cur-tf)/1000))}})
	return ok(body, len(rows))
}

func krakenTrades(c *call) reply {
	a := c.args()
	s, _ := a.symbol("pair")
	count := a.limit("count", 1000, 1000)
	since := a.int("since", -1)
	if a.bad != nil {
		return *a.bad
	}
	body := c.tmpl("trades").(object)
	result := body.obj("result")
	tr := firstRow(krakenFirst(body))
	recMs := int64(num(tr[2]) * 1000)
	base := c.x.idBase(tr[6], recMs)
	ser := c.series(s)
	var trades []trade
	if since >= 0 {
		// since is a cursor in nanoseconds (the "last" value) or seconds.
		fromUS := since*1_000_000 + 1
		if since > 1e12 {
			fromUS = since/1000 + 1
		}
		trades = c.trades(ser, fromUS, -1, count, false)
	} else {
		trades = c.trades(ser, -1, -1, count, true)
	}
	pdec, vdec, tdec := priceFormat(tr[0]), decimals(tr[1]), decimals(tr[2])
	rows := make([]any, 0, len(trades))
	lastNS := since
	for _, t := range trades {
		side, kind := "s", "m"
		if t.buy {
			side = "b"
		}
		if mix(uint64(t.k))%3 == 0 {
			kind = "l"
		}
		row := []any{like(tr[0], pdec.s(t.price)), like(tr[1], fmtDec(t.amount, vdec)),
			like(tr[2], fmtDec(float64(t.us)/1e6, tdec)), side, kind, clone(tr[5]), like(tr[6], itoa(base+t.k))}
		if len(tr) > 7 {
			row = append(row, like(tr[7], itoa(t.us*1000)))
		}
		rows = append(rows, row)
		lastNS = t.us * 1000
	}
	if lastNS < 0 {
		lastNS = c.now * 1_000_000
	}
	body.set("result", object{{krakenName(s), rows}, {"last", like(result.get("last"), itoa(lastNS))}})
	return ok(body, len(rows))
}
