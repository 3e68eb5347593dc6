package replay

import (
	"encoding/json"
	"net/http"
	"time"
)

// historyStart is where derived history begins (2017-07-01, before most of
// these markets opened on today's APIs); nothing is served before it.
const historyStart = int64(1498867200000)

// definitions returns every exchange's stand-in, one per exchange of
// internal/exchange/registry and in its order (its tests hold the two
// lists equal).
func definitions() []*exchangeDef {
	return []*exchangeDef{binanceDef(), krakenDef(), kucoinDef(), htxDef(), okxDef(), bybitDef(), coinbaseDef(), bitstampDef()}
}

// Exchanges lists the served exchanges, by CCXT id, in definitions order.
var Exchanges = func() []string {
	var ids []string
	for _, d := range definitions() {
		ids = append(ids, d.name)
	}
	return ids
}()

// candleTimes resolves a candle request to open times, oldest first:
// from and to bound the open time (inclusive, ms, -1 = unset); never a
// candle after the current one; with newest the most recent limit
// candles of the window, else the oldest.
func (c *call) candleTimes(tf, from, to int64, limit int, newest bool) []int64 {
	hi := alignDown(c.now, tf)
	if to >= 0 {
		hi = min(hi, alignDown(to, tf))
	}
	lo := alignUp(historyStart, tf)
	if from >= 0 {
		lo = max(lo, alignUp(from, tf))
	}
	return openTimes(lo, hi, tf, limit, newest)
}

// trades resolves a trade request by time (µs, inclusive, -1 = unset) to
// trades oldest first; never a trade after now.
func (c *call) trades(s series, fromUS, toUS int64, limit int, newest bool) []trade {
	hi := s.lastTrade(c.now * 1000)
	if toUS >= 0 {
		hi = min(hi, s.lastTrade(toUS))
	}
	lo := s.firstTrade(historyStart * 1000)
	if fromUS >= 0 {
		lo = max(lo, s.firstTrade(fromUS))
	}
	return s.tradeRange(clampRange(lo, hi, limit, newest))
}

// clampRange keeps at most limit of [lo, hi], the newest or the oldest.
func clampRange(lo, hi int64, limit int, newest bool) (int64, int64) {
	if hi-lo+1 > int64(limit) {
		if newest {
			lo = hi - int64(limit) + 1
		} else {
			hi = lo + int64(limit) - 1
		}
	}
	return lo, hi
}

// idBase turns a recorded trade (id, time) into the offset of derived ids,
// so that ids continue the recorded numbering. At a trade rate other than
// the default, that numbering may run below 1 before the recording: then
// the first derived trade (at historyStart) gets id 1 or more instead, so
// that every id served is a positive integer, as the exchanges' are.
func (x *exchange) idBase(recordedID any, recordedMs int64) int64 {
	base := integer(recordedID) - floorDiv(recordedMs*1000, x.spacing)
	if x.spacing == defaultTradeSpacing {
		return base
	}
	return max(base, 2-floorDiv(historyStart*1000, x.spacing))
}

// perSymbol lists one row per symbol, each filled by fill from its own
// copy of entry, a recorded row.
func perSymbol(entry object, syms []symbol, fill func(e object, s symbol) any) []any {
	list := make([]any, 0, len(syms))
	for _, s := range syms {
		list = append(list, fill(clone(entry).(object), s))
	}
	return list
}

func reverse[T any](s []T) []T {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// jsonReply is an error or status answer with a fixed body.
func jsonReply(status int, body any) reply { return reply{status: status, body: body} }

func retryHeader(retry time.Duration) http.Header {
	secs := int(retry / time.Second)
	if retry%time.Second != 0 || secs == 0 {
		secs++
	}
	h := http.Header{}
	h.Set("Retry-After", itoa(int64(secs)))
	return h
}

func n(s string) json.Number { return json.Number(s) }

// firstRow returns the first element of a recorded list as a row.
func firstRow(v any) []any {
	a, _ := v.([]any)
	if len(a) == 0 {
		return nil
	}
	r, _ := a[0].([]any)
	return r
}

func firstObj(v any) object {
	a, _ := v.([]any)
	if len(a) == 0 {
		return nil
	}
	o, _ := a[0].(object)
	return o
}
