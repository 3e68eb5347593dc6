package backfill

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

// Gap is a stretch of missing candles: every open time in [From, To).
type Gap struct {
	Exchange  string
	Symbol    market.Symbol
	Timeframe market.Timeframe
	From, To  time.Time
	Missing   int
	// NoData says the exchange was asked for this stretch and answered
	// without candles in it (ops.backfill_coverage): not a miss of ours,
	// so Fill leaves it alone unless told otherwise.
	NoData bool
	// Open says the candles are stored, but open: their period has ended
	// since, and Fill fetches them again for their final values. Missing
	// counts them.
	Open bool
}

// GapQuery says where to look for gaps.
type GapQuery struct {
	Exchange  string
	Timeframe market.Timeframe
	// Symbols to check; nil: every symbol with candles of the exchange and
	// timeframe.
	Symbols []market.Symbol
	// From and To bound the candles' open times, [From, To). Zero From:
	// from each symbol's first candle (no leading gap). Zero To, or a To
	// past now: up to the last finished period.
	From, To time.Time
	Now      time.Time // zero: time.Now()
	// Inner keeps only the holes between stored candles (the daemon's gap
	// fill): what lies before a symbol's first candle is history for a
	// backfill, and what follows its last one is the candle job's
	// catch-up.
	Inner bool
}

// GapStore is what finding gaps reads of the database (*store.Store).
type GapStore interface {
	CandleSymbols(ctx context.Context, exchange string) ([]market.Symbol, error)
	CandleBounds(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) (store.CandleBounds, error)
	CandleHoles(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) ([]store.Span, error)
	OpenCandleRuns(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) ([]store.CandleRun, error)
	CoverageWithin(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, from, to time.Time) ([]ops.Coverage, error)
}

// FindGaps lists the missing candle ranges per symbol, oldest first: a
// leading gap (From to the first candle), the holes between candles (a
// lead() over the primary key's order, so an index scan), and a trailing
// gap (the last candle to To). Each gap is split where coverage shows the
// exchange had nothing. Candles stored open whose period has ended are
// listed too (Open), to be fetched again.
func FindGaps(ctx context.Context, db GapStore, q GapQuery) ([]Gap, error) {
	tf := q.Timeframe.Duration()
	if tf <= 0 {
		return nil, fmt.Errorf("%w: unknown timeframe %q", ErrInvalidOptions, q.Timeframe)
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	hi := now.UTC().Truncate(tf) // the running period is not missing yet
	if !q.To.IsZero() {
		hi = minTime(hi, alignUp(q.To.UTC(), tf))
	}
	var lo time.Time
	if !q.From.IsZero() {
		lo = alignUp(q.From.UTC(), tf)
	}
	if !lo.IsZero() && !lo.Before(hi) {
		return nil, nil
	}
	symbols, listed := q.Symbols, true
	if symbols == nil {
		var err error
		if symbols, err = db.CandleSymbols(ctx, q.Exchange); err != nil {
			return nil, err
		}
		listed = false
	}
	var out []Gap
	for _, s := range symbols {
		gs, err := symbolGaps(ctx, db, q.Exchange, s, q.Timeframe, lo, hi, listed, q.Inner)
		if err != nil {
			return nil, fmt.Errorf("finding gaps of %s %s: %w", q.Exchange, s, err)
		}
		open, err := openCandles(ctx, db, q.Exchange, s, q.Timeframe, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("finding open candles of %s %s: %w", q.Exchange, s, err)
		}
		var split []Gap
		if len(gs) > 0 {
			empty, err := emptyCoverage(ctx, db, q.Exchange, s, q.Timeframe, gs[0].From, gs[len(gs)-1].To)
			if err != nil {
				return nil, fmt.Errorf("reading coverage of %s %s: %w", q.Exchange, s, err)
			}
			for _, g := range gs {
				split = append(split, splitGap(g, empty)...)
			}
		}
		// Both lists are in time order and do not overlap (open candles
		// are stored): merge them.
		for len(split) > 0 || len(open) > 0 {
			if len(open) == 0 || (len(split) > 0 && split[0].From.Before(open[0].From)) {
				out, split = append(out, split[0]), split[1:]
				continue
			}
			out, open = append(out, open[0]), open[1:]
		}
	}
	return out, nil
}

// openCandles lists one symbol's candles stored open in [lo, hi) (hi is
// the running period: everything before it has ended) as gaps.
func openCandles(ctx context.Context, db GapStore, exchange string, sym market.Symbol, tf market.Timeframe, lo, hi time.Time) ([]Gap, error) {
	runs, err := db.OpenCandleRuns(ctx, exchange, sym, tf, lo, hi)
	if err != nil {
		return nil, err
	}
	out := make([]Gap, 0, len(runs))
	for _, r := range runs {
		out = append(out, Gap{Exchange: exchange, Symbol: sym, Timeframe: tf, From: r.From, To: r.To, Missing: int(r.N), Open: true})
	}
	return out, nil
}

// symbolGaps finds one symbol's gaps in [lo, hi); zero lo: from its first
// candle. A symbol without a candle of the timeframe is reported whole
// only when it was asked for by name (listed).
func symbolGaps(ctx context.Context, db GapStore, exchange string, sym market.Symbol, tf market.Timeframe, lo, hi time.Time, listed, inner bool) ([]Gap, error) {
	d := tf.Duration()
	mk := func(from, to time.Time) Gap {
		return Gap{Exchange: exchange, Symbol: sym, Timeframe: tf, From: from.UTC(), To: to.UTC(), Missing: int(to.Sub(from) / d)}
	}
	bd, err := db.CandleBounds(ctx, exchange, sym, tf, lo, hi)
	if err != nil {
		return nil, err
	}
	if bd.First.IsZero() {
		if lo.IsZero() || (!listed && !bd.Any) || (inner && !(bd.Before && bd.AtOrAfter)) {
			return nil, nil
		}
		return []Gap{mk(lo, hi)}, nil
	}
	var out []Gap
	if !lo.IsZero() && bd.First.After(lo) && (!inner || bd.Before) {
		out = append(out, mk(lo, bd.First))
	}
	holes, err := db.CandleHoles(ctx, exchange, sym, tf, lo, hi)
	if err != nil {
		return nil, err
	}
	for _, h := range holes {
		out = append(out, mk(h.From, h.To))
	}
	if end := bd.Last.Add(d); end.Before(hi) && (!inner || bd.AtOrAfter) {
		out = append(out, mk(end, hi))
	}
	return out, nil
}

// span is a half-open time interval.
type span struct{ from, to time.Time }

// emptyCoverage returns, merged and in order, the stretches within
// [from, to) where the exchange was asked for candles and had none.
func emptyCoverage(ctx context.Context, db GapStore, exchange string, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]span, error) {
	cov, err := db.CoverageWithin(ctx, exchange, sym, market.TypeOHLCV, tf, from, to)
	if err != nil {
		return nil, err
	}
	var empty []span
	for _, c := range cov {
		if c.Rows == 0 || c.First.IsZero() {
			empty = append(empty, span{c.AskedFrom, c.AskedTo})
			continue
		}
		empty = append(empty, span{c.AskedFrom, c.First}, span{c.Last.Add(tf.Duration()), c.AskedTo})
	}
	return mergeSpans(empty), nil
}

// mergeSpans sorts spans and joins those that overlap or touch, dropping
// empty ones.
func mergeSpans(in []span) []span {
	in = slices.DeleteFunc(slices.Clone(in), func(s span) bool { return !s.from.Before(s.to) })
	slices.SortFunc(in, func(a, b span) int { return a.from.Compare(b.from) })
	var out []span
	for _, s := range in {
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			out[n-1].to = maxTime(out[n-1].to, s.to)
			continue
		}
		out = append(out, s)
	}
	return out
}

// splitGap cuts g where the merged empty spans begin and end: the parts
// inside one are NoData.
func splitGap(g Gap, empty []span) []Gap {
	d := g.Timeframe.Duration()
	var out []Gap
	part := func(from, to time.Time, noData bool) {
		if !from.Before(to) {
			return
		}
		if n := len(out); n > 0 && out[n-1].NoData == noData && out[n-1].To.Equal(from) {
			out[n-1].To = to
			out[n-1].Missing = int(to.Sub(out[n-1].From) / d)
			return
		}
		p := g
		p.From, p.To, p.NoData, p.Missing = from, to, noData, int(to.Sub(from)/d)
		out = append(out, p)
	}
	at := g.From
	for _, e := range empty {
		if !e.to.After(at) || !e.from.Before(g.To) {
			continue
		}
		part(at, maxTime(at, e.from), false)
		at = maxTime(at, e.from)
		end := minTime(e.to, g.To)
		part(at, end, true)
		at = end
	}
	part(at, g.To, false)
	return out
}

// Fill backfills the gaps: only the missed ones unless withNoData, which
// also asks the exchange again where it had nothing. Earlier progress is
// ignored (what is missing now is fetched now); a fill stopped midway is
// resumed by finding the gaps again.
func (b *Backfiller) Fill(ctx context.Context, gaps []Gap, withNoData bool) (Summary, error) {
	ranges := make([]Range, 0, len(gaps))
	for _, g := range gaps {
		if g.Exchange != b.exchange || g.Timeframe != b.tf {
			return Summary{}, fmt.Errorf("%w: %s %s %s", ErrMismatch, g.Exchange, g.Symbol, g.Timeframe)
		}
		if g.NoData && !withNoData {
			continue
		}
		ranges = append(ranges, Range{Symbol: g.Symbol, Kind: market.TypeOHLCV, From: g.From, To: g.To})
	}
	return b.run(ctx, ranges, true)
}

// RenderGaps writes gaps as an aligned table (times in RFC 3339, UTC), or
// a line saying there are none. WHY tells a miss of ours ("missing") from
// a stretch the exchange had nothing for ("no data at exchange"), and both
// from candles stored open whose period has ended ("stored open").
func RenderGaps(w io.Writer, gaps []Gap) error {
	if len(gaps) == 0 {
		_, err := fmt.Fprintln(w, "no gaps")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXCHANGE\tSYMBOL\tTIMEFRAME\tFROM\tTO\tMISSING\tWHY")
	for _, g := range gaps {
		why := "missing"
		switch {
		case g.NoData:
			why = "no data at exchange"
		case g.Open:
			why = "stored open"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", g.Exchange, g.Symbol, g.Timeframe,
			g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339), g.Missing, why)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing gaps table: %w", err)
	}
	return nil
}
