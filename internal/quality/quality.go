// Package quality validates batches of market data before they are cached
// and stored. A batch goes in, and out come the accepted rows, the rejected
// rows with their reasons, and one Report per exchange, symbol (and
// timeframe) with six metrics in [0, 1]. It does no I/O, but a Checker is
// not stateless: it keeps each series' recent prices for the outlier check
// (Accuracy, below), so a row's verdict depends on the batches before it.
//
// Every row is judged by checks, each tied to one metric. Some failures make
// a row unusable and reject it; others only lower their metric:
//
//	check                 metric        rejects  applies to
//	missing_field         completeness  yes      all (required fields below)
//	missing_timestamp     completeness  no       tickers, order books
//	empty_side            completeness  no       order books with one side empty
//	gap                   completeness  no       candles: periods missing between rows sent (rejected ones count as sent)
//	trade_hole            completeness  no       trades: trades missed just before the batch (a recorded hole), as the caller estimates them
//	invalid_value         validity      yes      all: prices > 0, amounts >= 0 (> 0 for trades and book levels), finite,
//	                                             at most 20 digits before and 20 after the point; known side and timeframe
//	crossed_book          consistency   yes      tickers, order books: bid > ask
//	unsorted_levels       consistency   yes      order books: bids not strictly falling, asks not strictly rising
//	high_below_low        consistency   yes      tickers: 24h low > 24h high
//	ohlc_relation         consistency   yes      candles: not low <= open, close <= high
//	wide_spread           consistency   no       tickers, books: (ask-bid)/mid > max_spread
//	last_outside_range    consistency   no       tickers: last outside [low, high]
//	misaligned_timestamp  consistency   no       candles: open time not a multiple of the timeframe
//	future_time           timeliness    yes      all: later than now + future_tolerance
//	out_of_order          timeliness    no       candles, trades: earlier than the row before
//	stale                 timeliness    no       tickers, books: each row older than maxAge;
//	                                             candles, trades: the newest row older than maxAge
//	                                             (then every row of the batch counts as stale)
//	duplicate             uniqueness    yes      a key already accepted in the batch; the first copy wins
//	outlier               accuracy      yes      price vs recent history (below)
//
// Required fields: exchange and symbol everywhere; tickers one of bid, ask,
// last; order books at least one level, each with price and amount; candles
// timeframe, time, open, high, low, close, volume; trades id, time, price,
// amount. Duplicate keys: tickers and books (time), candles (timeframe,
// time), trades (id, time).
//
// Accuracy: each exchange, symbol, data type (and timeframe) keeps its last
// history_length valid prices (ticker last or mid, book mid, candle close,
// trade price). Once outlier_min_history of them lie within the history
// window of a row, the row is an outlier when |price - median| > outlier_k *
// max(MAD, outlier_mad_floor * median).
//
// Metrics: each is the share of a report's rows that did not fail it
// (completeness divides by rows + gap periods, or rows + trades missed). A row rejected by one check
// is not judged by the later ones. Score is the weighted sum; Passed means
// every metric reached its threshold. A batch that does not pass still
// returns its accepted rows: the caller decides, nothing is dropped.
package quality

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Check names, the stable codes in Issue.Check, Rejected.Check and
// ops.rejected_rows.code.
const (
	CheckMissingField        = "missing_field"
	CheckMissingTimestamp    = "missing_timestamp"
	CheckEmptySide           = "empty_side"
	CheckGap                 = "gap"
	CheckTradeHole           = "trade_hole"
	CheckInvalidValue        = "invalid_value"
	CheckCrossedBook         = "crossed_book"
	CheckUnsortedLevels      = "unsorted_levels"
	CheckHighBelowLow        = "high_below_low"
	CheckOHLCRelation        = "ohlc_relation"
	CheckWideSpread          = "wide_spread"
	CheckLastOutsideRange    = "last_outside_range"
	CheckMisalignedTimestamp = "misaligned_timestamp"
	CheckFutureTime          = "future_time"
	CheckOutOfOrder          = "out_of_order"
	CheckStale               = "stale"
	CheckDuplicate           = "duplicate"
	CheckOutlier             = "outlier"
)

// Former names of two checks, before they became rejection codes.
//
// Deprecated: use CheckOHLCRelation and CheckFutureTime.
const (
	CheckOHLCInconsistent = CheckOHLCRelation
	CheckFutureTimestamp  = CheckFutureTime
)

// Issue counts the rows (or, for gap, the missing periods) one check flagged.
type Issue struct {
	Check   string `json:"check"`
	Metric  Metric `json:"metric"`
	Count   int    `json:"count"`
	Example string `json:"example"` // the first occurrence
}

// Report is the quality of one exchange/symbol/data type (and timeframe
// for candles) within a batch: one row of ops.quality_reports.
type Report struct {
	Exchange  string           `json:"exchange"`
	Symbol    market.Symbol    `json:"symbol"`
	DataType  market.DataType  `json:"data_type"`
	Timeframe market.Timeframe `json:"timeframe,omitempty"`
	Rows      int              `json:"rows"`
	Accepted  int              `json:"accepted"`
	Rejected  int              `json:"rejected"`
	Scores                     // the six metrics, each in [0, 1]
	Score     float64          `json:"score"`
	Passed    bool             `json:"passed"`
	Issues    []Issue          `json:"issues"`
}

// Rejected is a row that failed a rejecting check, kept whole for
// ops.rejected_rows.
type Rejected[T any] struct {
	Row    T
	Index  int    // the row's position in the batch
	Check  string // e.g. "crossed_book"
	Reason string // the check and what was wrong: "crossed_book: bid 101 > ask 100"
}

// Result of checking one batch. Rows keep their batch order. Accepted is
// the batch itself (the same backing array) when no row was rejected.
type Result[T any] struct {
	Accepted []T
	Rejected []Rejected[T]
	Reports  []Report // in order of first appearance in the batch; none for an empty batch
}

// Passed reports whether every report passed.
func (r Result[T]) Passed() bool {
	for _, rep := range r.Reports {
		if !rep.Passed {
			return false
		}
	}
	return true
}

// Checker runs the checks. It remembers recent prices for the outlier
// check, so one Checker should see all batches of the daemon. It is safe
// for concurrent use.
type Checker struct {
	cfg  Config
	rule outlierRule
	hist *histories
}

// NewChecker validates cfg and returns a Checker.
func NewChecker(cfg Config) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Checker{
		cfg:  cfg,
		rule: outlierRule{k: cfg.OutlierK, madFloor: cfg.OutlierMADFloor, minHistory: cfg.OutlierMinHistory},
		hist: newHistories(cfg.HistoryLength),
	}, nil
}

// Config returns the configuration the Checker runs with.
func (c *Checker) Config() Config { return c.cfg }

// metric indices into per-row and per-group arrays, in Metrics() order.
const numMetrics = 6

func metricIndex(m Metric) int {
	switch m {
	case Completeness:
		return 0
	case Accuracy:
		return 1
	case Consistency:
		return 2
	case Timeliness:
		return 3
	case Validity:
		return 4
	}
	return 5
}

// rowKey identifies a row within its group for the duplicate check.
type rowKey struct {
	ts int64
	id string
}

// spec is what a data type contributes to the generic run.
type spec[T any] struct {
	dataType market.DataType
	ordered  bool // a time series: order and batch freshness apply
	group    func(*T) seriesKey
	check    func(*Checker, *T, *row[T]) // completeness, validity, consistency
	ts       func(*T) time.Time
	fresh    func(*T) time.Time // the time freshness is measured from
	key      func(*T) rowKey
	price    func(*T) (float64, bool)
	label    func(*T) string // names the row in issue examples
}

// group accumulates one report.
type group struct {
	key      seriesKey
	hist     *series
	rows     int
	accepted int
	failed   [numMetrics]int
	issues   map[string]*Issue
	// seen holds the keys accepted so far, built only once a row comes
	// that is not after every accepted one (series come in order, so
	// most batches never need it).
	seen    map[rowKey]struct{}
	last    rowKey // the greatest accepted key while in order
	inOrder bool
	prev    time.Time   // time of the previous row, for the order check
	newest  time.Time   // latest freshness time of an accepted row
	times   []time.Time // candle times sent, for gaps
}

func (g *group) issue(m Metric, check, example string, n int) {
	is := g.issues[check]
	if is == nil {
		is = &Issue{Check: check, Metric: m, Example: example}
		g.issues[check] = is
	}
	is.Count += n
}

// row collects the verdicts on one row.
type row[T any] struct {
	g      *group
	v      *T
	label  func(*T) string // called only when there is something to say
	failed [numMetrics]bool
	check  string
	reason string
	// price is the row's price for the accuracy check when the checks
	// already parsed it (priced), sparing a second parse.
	price  float64
	priced bool
}

// fail lowers metric m for this row without rejecting it.
func (r *row[T]) fail(m Metric, check, detail string) {
	r.failed[metricIndex(m)] = true
	if r.g.issues[check] == nil {
		r.g.issue(m, check, r.label(r.v)+": "+detail, 1)
	} else {
		r.g.issue(m, check, "", 1)
	}
}

// reject fails metric m and rejects the row; the first reason is kept.
func (r *row[T]) reject(m Metric, check, detail string) {
	r.fail(m, check, detail)
	if r.check == "" {
		r.check, r.reason = check, check+": "+detail
	}
}

func (r *row[T]) rejected() bool { return r.check != "" }

// run checks batch with the rules of sp.
func run[T any](c *Checker, sp *spec[T], batch []T, now time.Time, maxAge time.Duration) Result[T] {
	return runWithHoles(c, sp, batch, now, maxAge, nil)
}

// runWithHoles is run with trades missed before the batch, per series.
func runWithHoles[T any](c *Checker, sp *spec[T], batch []T, now time.Time, maxAge time.Duration, holes map[seriesKey]TradeGap) Result[T] {
	var res Result[T]
	// Accepted is batch itself until a row is rejected: most batches lose
	// none, and copying them costs more than checking them.
	accepted := 0
	copied := false
	groups := make(map[seriesKey]*group)
	var order []*group
	var g *group
	scratch := make([]float64, 0, c.cfg.HistoryLength)
	r := new(row[T]) // reused: the indirect check call makes it escape
	latest := now.Add(c.cfg.FutureTolerance)
	for i := range batch {
		v := &batch[i] // not a copy: rows are large and read several times
		// Rows of one series come together: look the group up only when
		// the series changes.
		if k := sp.group(v); g == nil || k != g.key {
			g = groups[k]
			if g == nil {
				g = &group{key: k, issues: make(map[string]*Issue), inOrder: true}
				groups[k] = g
				order = append(order, g)
			}
		}
		g.rows++
		*r = row[T]{g: g, v: v, label: sp.label}
		sp.check(c, v, r)
		ts := sp.ts(v)
		if !r.rejected() && !ts.IsZero() {
			timeliness(c, sp, g, r, ts, now, latest, maxAge)
		}
		if sp.dataType == market.TypeOHLCV && !ts.IsZero() && r.check != CheckFutureTime {
			if g.times == nil {
				g.times = make([]time.Time, 0, len(batch)-i)
			}
			// Rejected rows were sent: only what never came is a gap.
			g.times = append(g.times, ts)
		}
		key := sp.key(v)
		if !r.rejected() && seenBefore(sp, g, key, batch, i, res.Rejected) {
			r.reject(Uniqueness, CheckDuplicate, "same key as an earlier row of the batch")
		}
		if !r.rejected() {
			accuracy(c, sp, g, r, v, ts, now, &scratch)
		}
		for i, f := range r.failed {
			if f {
				g.failed[i]++
			}
		}
		if r.rejected() {
			if !copied {
				res.Accepted = append(make([]T, 0, len(batch)-1), batch[:accepted]...)
				copied = true
			}
			res.Rejected = append(res.Rejected, Rejected[T]{Row: *v, Index: i, Check: r.check, Reason: r.reason})
			continue
		}
		g.accepted++
		g.accept(key)
		if copied {
			res.Accepted = append(res.Accepted, *v)
		}
		accepted++
		if sp.ordered && maxAge > 0 { // the newest row's age is judged only then
			if ft := sp.fresh(v); ft.After(g.newest) {
				g.newest = ft
			}
		}
	}
	if !copied {
		res.Accepted = batch
	}
	res.Reports = make([]Report, 0, len(order))
	for _, g := range order {
		var hole *TradeGap
		if h, ok := holes[g.key]; ok {
			hole = &h
		}
		res.Reports = append(res.Reports, report(c, sp, g, now, maxAge, hole))
	}
	return res
}

// after orders row keys as the batch's series usually come: by time, then id.
func (k rowKey) after(o rowKey) bool { return k.ts > o.ts || k.ts == o.ts && k.id > o.id }

// seenBefore reports whether key, row i's, was accepted earlier in the
// batch. Series come in order, so it is usually after every accepted key;
// the first row that is not turns the group to a set of the keys it
// accepted, read back from the batch (rejected, the rows rejected so far),
// rather than every batch keeping a list of keys it seldom needs.
func seenBefore[T any](sp *spec[T], g *group, key rowKey, batch []T, i int, rejected []Rejected[T]) bool {
	if g.inOrder {
		if g.accepted == 0 || key.after(g.last) {
			return false
		}
		g.inOrder = false
		g.seen = make(map[rowKey]struct{}, g.accepted+len(batch)-i)
		next := 0
		for j := range batch[:i] {
			if next < len(rejected) && rejected[next].Index == j {
				next++
				continue
			}
			if v := &batch[j]; sp.group(v) == g.key {
				g.seen[sp.key(v)] = struct{}{}
			}
		}
	}
	_, dup := g.seen[key]
	return dup
}

func (g *group) accept(key rowKey) {
	if g.inOrder {
		g.last = key
		return
	}
	g.seen[key] = struct{}{}
}

// timeliness applies future_time, out_of_order and (per row) stale.
// latest is now plus the tolerance for clocks ahead.
func timeliness[T any](c *Checker, sp *spec[T], g *group, r *row[T], ts, now, latest time.Time, maxAge time.Duration) {
	if ts.After(latest) { // ts.Sub(now) > tolerance, without Sub's cost per row
		r.reject(Timeliness, CheckFutureTime, fmt.Sprintf("%s ahead of now (tolerance %s)", ts.Sub(now), c.cfg.FutureTolerance))
		return
	}
	if sp.ordered {
		if !g.prev.IsZero() && ts.Before(g.prev) {
			r.fail(Timeliness, CheckOutOfOrder, "earlier than the row before it, "+formatTime(g.prev))
		}
		g.prev = ts
		return
	}
	if age := now.Sub(ts); maxAge > 0 && age > maxAge {
		r.fail(Timeliness, CheckStale, fmt.Sprintf("%s old (max %s)", age, maxAge))
	}
}

// accuracy applies the outlier check and records the price in the history.
func accuracy[T any](c *Checker, sp *spec[T], g *group, r *row[T], v *T, ts, now time.Time, scratch *[]float64) {
	p, ok := r.price, r.priced
	if !ok {
		p, ok = sp.price(v)
	}
	if !ok || !(p > 0) || !finite(p) {
		return
	}
	if ts.IsZero() {
		ts = now
	}
	window := c.cfg.HistoryWindow
	if tf := g.key.timeframe.Duration(); tf > 0 {
		window = time.Duration(c.cfg.HistoryLength) * tf
	}
	if g.hist == nil {
		g.hist = c.hist.get(g.key)
	}
	vd := g.hist.checkAndAdd(ts, p, window, c.rule, scratch)
	if vd.outlier {
		r.reject(Accuracy, CheckOutlier, fmt.Sprintf("price %g is %.3g%% from the recent median %g (bound %.3g%%)",
			p, 100*math.Abs(p-vd.median)/vd.median, vd.median, 100*vd.bound/vd.median))
	}
}

// report turns a group's counts into its Report.
func report[T any](c *Checker, sp *spec[T], g *group, now time.Time, maxAge time.Duration, hole *TradeGap) Report {
	rep := Report{
		Exchange: g.key.exchange, Symbol: g.key.symbol, DataType: sp.dataType, Timeframe: g.key.timeframe,
		Rows: g.rows, Accepted: g.accepted, Rejected: g.rows - g.accepted,
	}
	if sp.ordered && maxAge > 0 && g.accepted > 0 {
		if age := now.Sub(g.newest); age > maxAge {
			// A late series is late as a whole: every row counts.
			g.failed[metricIndex(Timeliness)] = g.rows
			g.issue(Timeliness, CheckStale, fmt.Sprintf("newest row dates from %s, %s ago (max %s)", formatTime(g.newest), age, maxAge), g.rows)
		}
	}
	missing := 0
	if tf := g.key.timeframe.Duration(); tf > 0 && len(g.times) > 1 {
		if !slices.IsSortedFunc(g.times, time.Time.Compare) {
			slices.SortFunc(g.times, time.Time.Compare)
		}
		for i := 1; i < len(g.times); i++ {
			if d := g.times[i].Sub(g.times[i-1]); d > tf {
				if n := int(d/tf) - 1; n > 0 {
					g.issue(Completeness, CheckGap, fmt.Sprintf("%d periods missing after %s", n, formatTime(g.times[i-1])), n)
					missing += n
				}
			}
		}
	}
	if hole != nil && hole.Missed > 0 {
		g.issue(Completeness, CheckTradeHole, hole.Detail, hole.Missed)
		missing += hole.Missed
	}
	rep.Passed = true
	for _, m := range Metrics() {
		i := metricIndex(m)
		den := g.rows
		if m == Completeness {
			den += missing
		}
		v := float64(g.rows-g.failed[i]) / float64(den)
		v = min(max(v, 0), 1)
		rep.set(m, v)
		rep.Score += c.cfg.Weights.Get(m) * v
		if v < c.cfg.Thresholds.Get(m) {
			rep.Passed = false
		}
	}
	rep.Score = min(max(rep.Score, 0), 1)
	rep.Issues = make([]Issue, 0, len(g.issues))
	for _, is := range g.issues {
		rep.Issues = append(rep.Issues, *is)
	}
	slices.SortFunc(rep.Issues, func(a, b Issue) int { return cmp.Compare(a.Check, b.Check) })
	return rep
}

// finite reports whether f is a usable number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
