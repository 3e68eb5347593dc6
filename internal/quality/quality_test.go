package quality

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

var (
	now = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	sym = market.Symbol("BTC/USDT")
)

func dec(s string) market.Decimal {
	if s == "" {
		return market.Decimal{}
	}
	return market.MustDecimal(s)
}

func newChecker(t testing.TB) *Checker {
	t.Helper()
	c, err := NewChecker(DefaultConfig())
	require.NoError(t, err)
	return c
}

// want describes the expected outcome of one single-group batch.
type want struct {
	accepted int
	rejected []string           // checks of the rejected rows, in order
	issues   map[string]int     // every issue expected, with its count
	metrics  map[Metric]float64 // metrics other than 1; all others must be 1
	passed   bool
}

// rejects is the outcome of a batch of one row that check rejects: the
// row's metric drops to 0 and the others stay at 1.
func rejects(check string, m Metric) want {
	return want{rejected: []string{check}, issues: map[string]int{check: 1}, metrics: map[Metric]float64{m: 0}}
}

func requireReport(t *testing.T, w want, rep Report, rejected []string, accepted int) {
	t.Helper()
	require.Equal(t, w.accepted, accepted, "accepted rows")
	if w.rejected == nil {
		w.rejected = []string{}
	}
	require.Equal(t, w.rejected, rejected, "rejected checks")
	got := map[string]int{}
	for _, is := range rep.Issues {
		got[is.Check] = is.Count
		require.NotEmpty(t, is.Example, "issue %s has no example", is.Check)
	}
	if w.issues == nil {
		w.issues = map[string]int{}
	}
	require.Equal(t, w.issues, got, "issues")
	for _, m := range Metrics() {
		exp, ok := w.metrics[m]
		if !ok {
			exp = 1
		}
		require.InDelta(t, exp, rep.Get(m), 1e-9, "metric %s", m)
	}
	require.Equal(t, w.passed, rep.Passed, "passed")
	require.Equal(t, accepted, rep.Accepted)
	require.Equal(t, len(rejected), rep.Rejected)
	require.Equal(t, rep.Accepted+rep.Rejected, rep.Rows)
}

func checks[T any](t testing.TB, rs []Rejected[T]) []string {
	t.Helper()
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Check)
		require.Contains(t, r.Reason, r.Check+": ")
	}
	return out
}

func tk(mod func(*market.Ticker)) market.Ticker {
	t := market.Ticker{
		Exchange: "binance", Symbol: sym, Time: now.Add(-time.Second),
		Bid: dec("100.0"), Ask: dec("100.1"), Last: dec("100.05"),
		High: dec("105"), Low: dec("95"), BaseVolume: dec("10"), QuoteVolume: dec("1000"),
	}
	if mod != nil {
		mod(&t)
	}
	return t
}

func TestCheckTickers(t *testing.T) {
	tests := []struct {
		name   string
		batch  []market.Ticker
		maxAge time.Duration
		want   want
	}{
		{"good", []market.Ticker{tk(nil)}, time.Minute, want{accepted: 1, passed: true}},
		{"only last is enough", []market.Ticker{tk(func(t *market.Ticker) {
			t.Bid, t.Ask = market.Decimal{}, market.Decimal{}
		})}, 0, want{accepted: 1, passed: true}},
		{"no prices", []market.Ticker{tk(func(t *market.Ticker) {
			t.Bid, t.Ask, t.Last = market.Decimal{}, market.Decimal{}, market.Decimal{}
		})}, 0, rejects(CheckMissingField, Completeness)},
		{"no symbol", []market.Ticker{tk(func(t *market.Ticker) { t.Symbol = "" })}, 0, rejects(CheckMissingField, Completeness)},
		{"no timestamp lowers completeness only", []market.Ticker{tk(nil), tk(func(t *market.Ticker) { t.Time = time.Time{} })}, time.Minute, want{
			accepted: 2, issues: map[string]int{CheckMissingTimestamp: 1},
			metrics: map[Metric]float64{Completeness: 0.5},
		}},
		{"negative bid", []market.Ticker{tk(func(t *market.Ticker) { t.Bid = dec("-1") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"zero last", []market.Ticker{tk(func(t *market.Ticker) { t.Last = dec("0.000") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"zero volume is valid", []market.Ticker{tk(func(t *market.Ticker) { t.BaseVolume = dec("0") })}, 0, want{accepted: 1, passed: true}},
		{"negative volume", []market.Ticker{tk(func(t *market.Ticker) { t.QuoteVolume = dec("-5") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"infinite price", []market.Ticker{tk(func(t *market.Ticker) { t.High = dec("1e400") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"crossed", []market.Ticker{tk(func(t *market.Ticker) { t.Bid, t.Ask = dec("101"), dec("100") })}, 0, rejects(CheckCrossedBook, Consistency)},
		{"locked book is fine", []market.Ticker{tk(func(t *market.Ticker) { t.Bid, t.Ask = dec("100.0"), dec("100") })}, 0, want{accepted: 1, passed: true}},
		{"wide spread lowers consistency only", []market.Ticker{tk(func(t *market.Ticker) { t.Bid, t.Ask, t.Last = dec("90"), dec("110"), dec("100") })}, 0, want{
			accepted: 1, issues: map[string]int{CheckWideSpread: 1},
			metrics: map[Metric]float64{Consistency: 0},
		}},
		{"low above high", []market.Ticker{tk(func(t *market.Ticker) { t.High, t.Low = dec("95"), dec("105") })}, 0, rejects(CheckHighBelowLow, Consistency)},
		{"last outside range", []market.Ticker{tk(nil), tk(func(t *market.Ticker) {
			t.Time = now
			t.Last = dec("106")
		})}, 0, want{
			accepted: 2, issues: map[string]int{CheckLastOutsideRange: 1},
			metrics: map[Metric]float64{Consistency: 0.5},
		}},
		{"future beyond tolerance", []market.Ticker{tk(func(t *market.Ticker) { t.Time = now.Add(11 * time.Second) })}, 0, rejects(CheckFutureTime, Timeliness)},
		{"future within tolerance", []market.Ticker{tk(func(t *market.Ticker) { t.Time = now.Add(10 * time.Second) })}, time.Minute, want{accepted: 1, passed: true}},
		{"stale lowers timeliness only", []market.Ticker{tk(func(t *market.Ticker) { t.Time = now.Add(-2 * time.Minute) })}, time.Minute, want{
			accepted: 1, issues: map[string]int{CheckStale: 1},
			metrics: map[Metric]float64{Timeliness: 0},
		}},
		{"stale unchecked with max age 0", []market.Ticker{tk(func(t *market.Ticker) { t.Time = now.Add(-24 * time.Hour) })}, 0, want{accepted: 1, passed: true}},
		{"duplicate", []market.Ticker{tk(nil), tk(nil)}, 0, want{
			accepted: 1, rejected: []string{CheckDuplicate}, issues: map[string]int{CheckDuplicate: 1},
			metrics: map[Metric]float64{Uniqueness: 0.5},
		}},
		{"invalid first copy does not make the second a duplicate", []market.Ticker{
			tk(func(t *market.Ticker) { t.Bid = dec("-1") }), tk(nil),
		}, 0, want{
			accepted: 1, rejected: []string{CheckInvalidValue}, issues: map[string]int{CheckInvalidValue: 1},
			metrics: map[Metric]float64{Validity: 0.5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newChecker(t).CheckTickers(tt.batch, now, tt.maxAge)
			require.Len(t, res.Reports, 1)
			rep := res.Reports[0]
			require.Equal(t, market.TypeTicker, rep.DataType)
			requireReport(t, tt.want, rep, checks(t, res.Rejected), len(res.Accepted))
			require.Equal(t, tt.want.passed, res.Passed())
		})
	}
}

func lv(p, a string) market.Level { return market.Level{Price: dec(p), Amount: dec(a)} }

func book(mod func(*market.OrderBook)) market.OrderBook {
	b := market.OrderBook{
		Exchange: "kraken", Symbol: sym, Time: now.Add(-time.Second),
		Bids: []market.Level{lv("100", "1"), lv("99.5", "2"), lv("99", "3")},
		Asks: []market.Level{lv("100.5", "1"), lv("101", "2")},
	}
	if mod != nil {
		mod(&b)
	}
	return b
}

func TestCheckOrderBooks(t *testing.T) {
	tests := []struct {
		name   string
		batch  []market.OrderBook
		maxAge time.Duration
		want   want
	}{
		{"good", []market.OrderBook{book(nil)}, time.Minute, want{accepted: 1, passed: true}},
		{"no levels", []market.OrderBook{book(func(b *market.OrderBook) { b.Bids, b.Asks = nil, nil })}, 0, rejects(CheckMissingField, Completeness)},
		{"empty side lowers completeness only", []market.OrderBook{book(func(b *market.OrderBook) { b.Asks = nil })}, 0, want{
			accepted: 1, issues: map[string]int{CheckEmptySide: 1},
			metrics: map[Metric]float64{Completeness: 0},
		}},
		{"level without amount", []market.OrderBook{book(func(b *market.OrderBook) { b.Asks[1].Amount = market.Decimal{} })}, 0, rejects(CheckMissingField, Completeness)},
		{"zero amount", []market.OrderBook{book(func(b *market.OrderBook) { b.Bids[2].Amount = dec("0") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"negative price", []market.OrderBook{book(func(b *market.OrderBook) { b.Bids[2].Price = dec("-99") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"bids rising", []market.OrderBook{book(func(b *market.OrderBook) { b.Bids[1].Price = dec("100.5") })}, 0, rejects(CheckUnsortedLevels, Consistency)},
		{"asks repeated price", []market.OrderBook{book(func(b *market.OrderBook) { b.Asks[1].Price = dec("100.50") })}, 0, rejects(CheckUnsortedLevels, Consistency)},
		{"crossed", []market.OrderBook{book(func(b *market.OrderBook) {
			b.Asks = []market.Level{lv("99.9", "1"), lv("101", "1")}
		})}, 0, rejects(CheckCrossedBook, Consistency)},
		{"wide spread", []market.OrderBook{book(func(b *market.OrderBook) {
			b.Asks = []market.Level{lv("120", "1")}
		})}, 0, want{
			accepted: 1, issues: map[string]int{CheckWideSpread: 1},
			metrics: map[Metric]float64{Consistency: 0},
		}},
		{"no timestamp", []market.OrderBook{book(func(b *market.OrderBook) { b.Time = time.Time{} })}, time.Minute, want{
			accepted: 1, issues: map[string]int{CheckMissingTimestamp: 1},
			metrics: map[Metric]float64{Completeness: 0},
		}},
		{"stale", []market.OrderBook{book(nil), book(func(b *market.OrderBook) { b.Time = now.Add(-time.Hour) })}, time.Minute, want{
			accepted: 2, issues: map[string]int{CheckStale: 1},
			metrics: map[Metric]float64{Timeliness: 0.5}, passed: false,
		}},
		{"duplicate", []market.OrderBook{book(nil), book(nil)}, 0, want{
			accepted: 1, rejected: []string{CheckDuplicate}, issues: map[string]int{CheckDuplicate: 1},
			metrics: map[Metric]float64{Uniqueness: 0.5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newChecker(t).CheckOrderBooks(tt.batch, now, tt.maxAge)
			require.Len(t, res.Reports, 1)
			requireReport(t, tt.want, res.Reports[0], checks(t, res.Rejected), len(res.Accepted))
		})
	}
}

// cd builds the i-th 1m candle before now.
func cd(i int, o, h, l, c, v string) market.Candle {
	return market.Candle{
		Exchange: "binance", Symbol: sym, Timeframe: market.TF1m,
		Time: now.Add(time.Duration(i-10) * time.Minute),
		Open: dec(o), High: dec(h), Low: dec(l), Close: dec(c), Volume: dec(v),
	}
}

func goodCandles(n int) []market.Candle {
	out := make([]market.Candle, n)
	for i := range out {
		out[i] = cd(i, "100", "101", "99", "100.5", "3")
	}
	return out
}

func with(cs []market.Candle, i int, mod func(*market.Candle)) []market.Candle {
	mod(&cs[i])
	return cs
}

func TestCheckCandles(t *testing.T) {
	tests := []struct {
		name   string
		batch  []market.Candle
		maxAge time.Duration
		want   want
	}{
		{"good", goodCandles(10), 5 * time.Minute, want{accepted: 10, passed: true}},
		{"open candle with end in the future is fresh", goodCandles(11), time.Second, want{accepted: 11, passed: true}},
		{"missing high", with(goodCandles(2), 1, func(c *market.Candle) { c.High = market.Decimal{} }), 0, want{
			accepted: 1, rejected: []string{CheckMissingField}, issues: map[string]int{CheckMissingField: 1},
			metrics: map[Metric]float64{Completeness: 0.5},
		}},
		{"missing volume", with(goodCandles(1), 0, func(c *market.Candle) { c.Volume = market.Decimal{} }), 0, rejects(CheckMissingField, Completeness)},
		{"missing time", with(goodCandles(1), 0, func(c *market.Candle) { c.Time = time.Time{} }), 0, rejects(CheckMissingField, Completeness)},
		{"unknown timeframe", with(goodCandles(1), 0, func(c *market.Candle) { c.Timeframe = "7m" }), 0, rejects(CheckInvalidValue, Validity)},
		{"zero open", with(goodCandles(1), 0, func(c *market.Candle) { c.Open, c.Low = dec("0"), dec("0") }), 0, rejects(CheckInvalidValue, Validity)},
		{"zero volume is valid", with(goodCandles(1), 0, func(c *market.Candle) { c.Volume = dec("0.000") }), 0, want{accepted: 1, passed: true}},
		{"negative volume", with(goodCandles(1), 0, func(c *market.Candle) { c.Volume = dec("-1") }), 0, rejects(CheckInvalidValue, Validity)},
		{"low above open", with(goodCandles(1), 0, func(c *market.Candle) { c.Low = dec("100.01") }), 0, rejects(CheckOHLCRelation, Consistency)},
		{"close above high", with(goodCandles(1), 0, func(c *market.Candle) { c.Close = dec("101.0000001") }), 0, rejects(CheckOHLCRelation, Consistency)},
		{"flat candle with equal texts", with(goodCandles(1), 0, func(c *market.Candle) {
			c.Open, c.High, c.Low, c.Close = dec("5.0"), dec("5.00"), dec("5"), dec("5")
		}), 0, want{accepted: 1, passed: true}},
		{"digits beyond float64 still compared exactly", with(goodCandles(1), 0, func(c *market.Candle) {
			c.Open, c.High, c.Low, c.Close = dec("100.00000000000000002"), dec("100.00000000000000001"), dec("99"), dec("100")
		}), 0, rejects(CheckOHLCRelation, Consistency)},
		{"misaligned lowers consistency only", with(goodCandles(2), 1, func(c *market.Candle) { c.Time = c.Time.Add(30 * time.Second) }), 0, want{
			accepted: 2, issues: map[string]int{CheckMisalignedTimestamp: 1},
			metrics: map[Metric]float64{Consistency: 0.5},
		}},
		{"future", with(goodCandles(2), 1, func(c *market.Candle) { c.Time = now.Add(time.Minute) }), 0, want{
			accepted: 1, rejected: []string{CheckFutureTime}, issues: map[string]int{CheckFutureTime: 1},
			metrics: map[Metric]float64{Timeliness: 0.5},
		}},
		{"out of order lowers timeliness only", []market.Candle{
			cd(0, "100", "101", "99", "100", "1"), cd(2, "100", "101", "99", "100", "1"),
			cd(1, "100", "101", "99", "100", "1"), cd(3, "100", "101", "99", "100", "1"),
		}, 0, want{
			accepted: 4, issues: map[string]int{CheckOutOfOrder: 1},
			metrics: map[Metric]float64{Timeliness: 0.75},
		}},
		{"duplicate time", []market.Candle{
			cd(0, "100", "101", "99", "100", "1"), cd(1, "100", "101", "99", "100", "1"),
			cd(1, "100", "102", "99", "100", "2"),
		}, 0, want{
			accepted: 2, rejected: []string{CheckDuplicate}, issues: map[string]int{CheckDuplicate: 1},
			metrics: map[Metric]float64{Uniqueness: 2.0 / 3},
		}},
		{"gap lowers completeness", []market.Candle{
			cd(0, "100", "101", "99", "100", "1"), cd(1, "100", "101", "99", "100", "1"),
			cd(4, "100", "101", "99", "100", "1"), cd(5, "100", "101", "99", "100", "1"),
		}, 0, want{
			accepted: 4, issues: map[string]int{CheckGap: 2},
			metrics: map[Metric]float64{Completeness: 4.0 / 6},
		}},
		{"stale batch: every row counts", goodCandles(5), 2 * time.Minute, want{
			// The newest candle opened at now-6m and closed at now-5m.
			accepted: 5, issues: map[string]int{CheckStale: 5},
			metrics: map[Metric]float64{Timeliness: 0},
		}},
		{"stale only judged on the newest", goodCandles(10), 2 * time.Minute, want{accepted: 10, passed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newChecker(t).CheckCandles(tt.batch, now, tt.maxAge)
			require.Len(t, res.Reports, 1)
			rep := res.Reports[0]
			require.Equal(t, tt.batch[0].Timeframe, rep.Timeframe)
			requireReport(t, tt.want, rep, checks(t, res.Rejected), len(res.Accepted))
		})
	}
}

func tr(i int, id string, mod func(*market.Trade)) market.Trade {
	t := market.Trade{
		Exchange: "okx", Symbol: sym, ID: id, Time: now.Add(time.Duration(i-10) * time.Second),
		Side: market.SideBuy, Price: dec("100.5"), Amount: dec("0.01"),
	}
	if mod != nil {
		mod(&t)
	}
	return t
}

func TestCheckTrades(t *testing.T) {
	tests := []struct {
		name   string
		batch  []market.Trade
		maxAge time.Duration
		want   want
	}{
		{"good", []market.Trade{tr(0, "1", nil), tr(1, "2", nil), tr(1, "3", nil)}, time.Minute, want{accepted: 3, passed: true}},
		{"unknown side is fine", []market.Trade{tr(0, "1", func(t *market.Trade) { t.Side = market.SideUnknown })}, 0, want{accepted: 1, passed: true}},
		{"bad side", []market.Trade{tr(0, "1", func(t *market.Trade) { t.Side = "short" })}, 0, rejects(CheckInvalidValue, Validity)},
		{"no id", []market.Trade{tr(0, "", nil)}, 0, rejects(CheckMissingField, Completeness)},
		{"zero amount", []market.Trade{tr(0, "1", func(t *market.Trade) { t.Amount = dec("0") })}, 0, rejects(CheckInvalidValue, Validity)},
		{"duplicate id and time", []market.Trade{tr(0, "1", nil), tr(0, "1", nil)}, 0, want{
			accepted: 1, rejected: []string{CheckDuplicate}, issues: map[string]int{CheckDuplicate: 1},
			metrics: map[Metric]float64{Uniqueness: 0.5},
		}},
		{"same id at another time is another trade", []market.Trade{tr(0, "1", nil), tr(1, "1", nil)}, 0, want{accepted: 2, passed: true}},
		{"out of order", []market.Trade{tr(1, "1", nil), tr(0, "2", nil)}, 0, want{
			accepted: 2, issues: map[string]int{CheckOutOfOrder: 1},
			metrics: map[Metric]float64{Timeliness: 0.5},
		}},
		{"stale", []market.Trade{tr(0, "1", nil), tr(1, "2", nil)}, 5 * time.Second, want{
			accepted: 2, issues: map[string]int{CheckStale: 2},
			metrics: map[Metric]float64{Timeliness: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newChecker(t).CheckTrades(tt.batch, now, tt.maxAge)
			require.Len(t, res.Reports, 1)
			requireReport(t, tt.want, res.Reports[0], checks(t, res.Rejected), len(res.Accepted))
		})
	}
}

func TestScoreArithmetic(t *testing.T) {
	// 10 rows: one duplicate (uniqueness 0.9), one OHLC-inconsistent
	// (consistency 0.9), the rest clean.
	batch := goodCandles(9)
	batch = append(batch, batch[8])
	batch[3].High = dec("99.5")

	t.Run("default weights", func(t *testing.T) {
		rep := newChecker(t).CheckCandles(batch, now, 0).Reports[0]
		require.InDelta(t, 0.9, rep.Consistency, 1e-12)
		require.InDelta(t, 0.9, rep.Uniqueness, 1e-12)
		// 0.20 + 0.20 + 0.15*0.9 + 0.15 + 0.20 + 0.10*0.9
		require.InDelta(t, 0.975, rep.Score, 1e-12)
		require.False(t, rep.Passed, "uniqueness 0.9 is under its 0.98 threshold")
	})
	t.Run("custom weights and thresholds", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Weights = Scores{Consistency: 0.5, Uniqueness: 0.5}
		cfg.Thresholds.Uniqueness = 0.9
		cfg.Thresholds.Consistency = 0.9
		c, err := NewChecker(cfg)
		require.NoError(t, err)
		rep := c.CheckCandles(batch, now, 0).Reports[0]
		require.InDelta(t, 0.9, rep.Score, 1e-12)
		require.True(t, rep.Passed, "a metric equal to its threshold passes")
	})
	t.Run("empty batch has no report", func(t *testing.T) {
		res := newChecker(t).CheckCandles(nil, now, time.Minute)
		require.Empty(t, res.Reports)
		require.Empty(t, res.Accepted)
		require.True(t, res.Passed())
	})
}

func TestFailingBatchKeepsAcceptedRows(t *testing.T) {
	batch := goodCandles(4)
	batch[1].Volume = dec("-1")
	batch[2].Low = dec("200")
	res := newChecker(t).CheckCandles(batch, now, 0)
	require.False(t, res.Passed())
	require.Equal(t, []market.Candle{batch[0], batch[3]}, res.Accepted)
	require.Len(t, res.Rejected, 2)
	require.Equal(t, batch[1], res.Rejected[0].Row)
	require.Equal(t, "invalid_value: volume -1 (want >= 0)", res.Rejected[0].Reason)
	require.Equal(t, batch[2], res.Rejected[1].Row)
	require.Equal(t, "ohlc_relation: low 200 > open 100", res.Rejected[1].Reason)
}

func TestReportsPerGroup(t *testing.T) {
	eth := tk(func(t *market.Ticker) { t.Symbol = "ETH/USDT"; t.Bid = dec("-1") })
	kr := tk(func(t *market.Ticker) { t.Exchange = "kraken" })
	res := newChecker(t).CheckTickers([]market.Ticker{tk(nil), eth, kr}, now, time.Minute)
	require.Len(t, res.Reports, 3)
	require.Equal(t, []string{"binance BTC/USDT", "binance ETH/USDT", "kraken BTC/USDT"}, []string{
		res.Reports[0].Exchange + " " + string(res.Reports[0].Symbol),
		res.Reports[1].Exchange + " " + string(res.Reports[1].Symbol),
		res.Reports[2].Exchange + " " + string(res.Reports[2].Symbol),
	})
	require.True(t, res.Reports[0].Passed)
	require.False(t, res.Reports[1].Passed)
	require.True(t, res.Reports[2].Passed)
	require.False(t, res.Passed())

	// Candles of two timeframes of one symbol are two reports.
	c1h := cd(0, "1", "1", "1", "1", "1")
	c1h.Timeframe, c1h.Time = market.TF1h, now.Truncate(time.Hour)
	cres := newChecker(t).CheckCandles([]market.Candle{cd(0, "1", "1", "1", "1", "1"), c1h}, now, 0)
	require.Len(t, cres.Reports, 2)
	require.Equal(t, market.TF1h, cres.Reports[1].Timeframe)
}

func TestReportJSON(t *testing.T) {
	res := newChecker(t).CheckTickers([]market.Ticker{tk(nil), tk(nil)}, now, 0)
	b, err := json.Marshal(res.Reports[0])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.InDelta(t, 0.5, m["uniqueness"], 1e-12)
	require.Equal(t, "ticker", m["data_type"])
	require.Equal(t, []any{map[string]any{
		"check": "duplicate", "metric": "uniqueness", "count": 1.0,
		"example": "2024-03-01T11:59:59Z: same key as an earlier row of the batch",
	}}, m["issues"])
}

// walk returns n candles whose closes wander around base by < 0.1%.
func walk(start time.Time, tf market.Timeframe, n int, base float64) []market.Candle {
	out := make([]market.Candle, n)
	for i := range out {
		p := base * (1 + 0.001*float64(i%5-2)/2)
		s := fmt.Sprintf("%.2f", p)
		out[i] = market.Candle{
			Exchange: "binance", Symbol: sym, Timeframe: tf, Time: start.Add(time.Duration(i) * tf.Duration()),
			Open: dec(s), High: dec(s), Low: dec(s), Close: dec(s), Volume: dec("1"),
		}
	}
	return out
}

func price(t market.Candle, p string) market.Candle {
	t.Open, t.High, t.Low, t.Close = dec(p), dec(p), dec(p), dec(p)
	return t
}

func TestOutliers(t *testing.T) {
	start := now.Add(-2 * time.Hour)
	t.Run("spike rejected, history spans batches", func(t *testing.T) {
		c := newChecker(t)
		hist := walk(start, market.TF1m, 20, 100)
		require.Len(t, c.CheckCandles(hist, now, 0).Accepted, 20)
		next := walk(start.Add(20*time.Minute), market.TF1m, 3, 100)
		next[1] = price(next[1], "110") // 10% off, bound is 5% (k 10 * floor 0.5%)
		res := c.CheckCandles(next, now, 0)
		require.Equal(t, []string{CheckOutlier}, checks(t, res.Rejected))
		require.Equal(t, next[1], res.Rejected[0].Row)
		require.Len(t, res.Accepted, 2)
		rep := res.Reports[0]
		require.InDelta(t, 2.0/3, rep.Accuracy, 1e-12)
		require.Contains(t, res.Rejected[0].Reason, "from the recent median")
	})
	t.Run("move within the MAD floor accepted", func(t *testing.T) {
		c := newChecker(t)
		c.CheckCandles(walk(start, market.TF1m, 20, 100), now, 0)
		next := price(walk(start.Add(20*time.Minute), market.TF1m, 1, 100)[0], "104.5")
		require.Empty(t, c.CheckCandles([]market.Candle{next}, now, 0).Rejected)
	})
	t.Run("not before enough history", func(t *testing.T) {
		c := newChecker(t)
		batch := walk(start, market.TF1m, 10, 100)
		batch[9] = price(batch[9], "1000") // only 9 prices before it
		require.Empty(t, c.CheckCandles(batch, now, 0).Rejected)
	})
	t.Run("lasting move takes over the median", func(t *testing.T) {
		c := newChecker(t)
		c.CheckCandles(walk(start, market.TF1m, 50, 100), now, 0)
		moved := walk(start.Add(50*time.Minute), market.TF1m, 40, 150)
		res := c.CheckCandles(moved, now, 0)
		require.NotEmpty(t, res.Rejected)
		require.Less(t, len(res.Rejected), 30)
		last := res.Accepted[len(res.Accepted)-1]
		require.Equal(t, moved[39], last, "the new level is accepted in the end")
	})
	t.Run("old history does not judge new prices", func(t *testing.T) {
		c := newChecker(t)
		c.CheckCandles(walk(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), market.TF1m, 50, 4000), now, 0)
		res := c.CheckCandles(walk(start, market.TF1m, 20, 60000), now, 0)
		require.Empty(t, res.Rejected)
	})
	t.Run("histories are per timeframe and exchange", func(t *testing.T) {
		c := newChecker(t)
		c.CheckCandles(walk(start, market.TF1m, 20, 100), now, 0)
		other := walk(start, market.TF5m, 1, 200)
		other = append(other, walk(start, market.TF1m, 1, 200)...)
		other[1].Exchange = "kraken"
		require.Empty(t, c.CheckCandles(other, now, 0).Rejected)
	})
	t.Run("tickers use last, then mid", func(t *testing.T) {
		c := newChecker(t)
		for i := range 12 {
			c.CheckTickers([]market.Ticker{tk(func(t *market.Ticker) { t.Time = now.Add(time.Duration(i-20) * time.Second) })}, now, 0)
		}
		spike := tk(func(t *market.Ticker) {
			t.Time = now
			t.Last = market.Decimal{}
			t.Bid, t.Ask = dec("200"), dec("200.1")
		})
		res := c.CheckTickers([]market.Ticker{spike}, now, 0)
		require.Equal(t, []string{CheckOutlier}, checks(t, res.Rejected))
	})
	t.Run("order books use mid", func(t *testing.T) {
		c := newChecker(t)
		for i := range 12 {
			c.CheckOrderBooks([]market.OrderBook{book(func(b *market.OrderBook) { b.Time = now.Add(time.Duration(i-20) * time.Second) })}, now, 0)
		}
		spike := book(func(b *market.OrderBook) {
			b.Time = now
			b.Bids, b.Asks = []market.Level{lv("50", "1")}, []market.Level{lv("50.1", "1")}
		})
		require.Empty(t, newChecker(t).CheckOrderBooks([]market.OrderBook{spike}, now, 0).Rejected, "no history, no verdict")
		require.Equal(t, []string{CheckOutlier}, checks(t, c.CheckOrderBooks([]market.OrderBook{spike}, now, 0).Rejected))
	})
	t.Run("trades", func(t *testing.T) {
		c := newChecker(t)
		var batch []market.Trade
		for i := range 15 {
			batch = append(batch, tr(i, fmt.Sprint(i), nil))
		}
		batch = append(batch, tr(15, "x", func(t *market.Trade) { t.Price = dec("0.1005") }))
		res := c.CheckTrades(batch, now, 0)
		require.Equal(t, []string{CheckOutlier}, checks(t, res.Rejected))
		require.Equal(t, "x", res.Rejected[0].Row.ID)
	})
}

func TestCheckerConcurrent(t *testing.T) {
	c := newChecker(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				ts := now.Add(time.Duration(i-60) * time.Second)
				res := c.CheckTickers([]market.Ticker{tk(func(t *market.Ticker) {
					t.Time = ts
					t.Exchange = fmt.Sprint("ex", g%2)
				})}, now, 0)
				if len(res.Reports) != 1 {
					t.Errorf("reports: %d", len(res.Reports))
				}
				c.CheckCandles(goodCandles(5), now, 0)
			}
		})
	}
	wg.Wait()
}

func TestMedianMAD(t *testing.T) {
	tests := []struct {
		vals     []float64
		med, mad float64
	}{
		{[]float64{5}, 5, 0},
		{[]float64{1, 2}, 1.5, 0.5},
		{[]float64{3, 1, 2}, 2, 1},
		{[]float64{1, 1, 2, 2, 4, 6, 9}, 2, 1},
		{[]float64{9, 1, 6, 2, 4, 1, 2, 100}, 3, 2},
		{[]float64{7, 7, 7, 7}, 7, 0},
	}
	for _, tt := range tests {
		med, mad := medianMAD(slices.Clone(tt.vals))
		require.Equal(t, tt.med, med, "median of %v", tt.vals)
		require.Equal(t, tt.mad, mad, "MAD of %v", tt.vals)
	}
}

func FuzzMedian(f *testing.F) {
	f.Add([]byte{3, 1, 2, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		vals := make([]float64, len(b))
		for i, x := range b {
			vals[i] = float64(x % 17)
		}
		sorted := slices.Sorted(slices.Values(vals))
		want := sorted[len(sorted)/2]
		if len(sorted)%2 == 0 {
			want = (sorted[len(sorted)/2-1] + want) / 2
		}
		require.Equal(t, want, median(vals))
	})
}

// Issue 11 §5: a 401-digit price is a number PostgreSQL stores, but one no
// exchange could send. It is refused with a reason, as an invalid value.
func TestImplausibleDigitsRefused(t *testing.T) {
	batch := goodCandles(3)
	huge := "1" + strings.Repeat("0", 400)
	batch[1].High, batch[1].Close = dec(huge), dec(huge)
	batch[2].Volume = dec("0." + strings.Repeat("0", 30) + "1")
	res := newChecker(t).CheckCandles(batch, now, 0)
	require.Len(t, res.Accepted, 1)
	require.Len(t, res.Rejected, 2)
	require.Equal(t, CheckInvalidValue, res.Rejected[0].Check)
	require.Equal(t, 1, res.Rejected[0].Index)
	require.Equal(t, "invalid_value: high has 401 digits before the point (no exchange sends more than 20 before or after the point)", res.Rejected[0].Reason)
	require.Equal(t, "invalid_value: volume has 31 digits after the point (no exchange sends more than 20 before or after the point)", res.Rejected[1].Reason)
}

// A batch with nothing rejected is accepted as it is, and one out of order
// still finds its repeated keys.
func TestAcceptedAndDuplicatesOutOfOrder(t *testing.T) {
	batch := goodCandles(4)
	res := newChecker(t).CheckCandles(batch, now, 0)
	require.Equal(t, batch, res.Accepted)
	shuffled := []market.Candle{batch[2], batch[0], batch[1], batch[0], batch[3], batch[2]}
	res = newChecker(t).CheckCandles(shuffled, now, 0)
	require.Equal(t, []market.Candle{batch[2], batch[0], batch[1], batch[3]}, res.Accepted)
	require.Len(t, res.Rejected, 2)
	require.Equal(t, []int{3, 5}, []int{res.Rejected[0].Index, res.Rejected[1].Index})
	require.Equal(t, CheckDuplicate, res.Rejected[1].Check)
}

// The first row out of order turns the duplicate check to the keys the
// row's own series accepted before it: not those of rows it rejected, nor
// those of another series in the same batch.
func TestOutOfOrderKeysAreTheSeriesAccepted(t *testing.T) {
	a := goodCandles(3)
	other := goodCandles(2)
	for i := range other {
		other[i].Symbol = "ETH/USDT"
	}
	bad := a[0]
	bad.Low = dec("102") // above the high: rejected
	batch := []market.Candle{bad, other[0], other[1], a[1], a[2], a[0], a[2], a[1]}
	res := newChecker(t).CheckCandles(batch, now, 0)
	require.Equal(t, []market.Candle{other[0], other[1], a[1], a[2], a[0]}, res.Accepted)
	require.Len(t, res.Rejected, 3)
	require.Equal(t, []int{0, 6, 7}, []int{res.Rejected[0].Index, res.Rejected[1].Index, res.Rejected[2].Index})
	require.Equal(t, []string{CheckOHLCRelation, CheckDuplicate, CheckDuplicate},
		[]string{res.Rejected[0].Check, res.Rejected[1].Check, res.Rejected[2].Check})
}
