package backfill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

// persistTimeout bounds storing a fetched page and recording it. Both are
// detached from the run's context: a page in hand is stored and recorded
// even after Ctrl-C, which spares the resumed run from fetching it again.
const persistTimeout = 2 * time.Minute

// persistContext is the context for storing and recording one page.
func persistContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
}

func (b *Backfiller) check(r Range) error {
	switch {
	case r.Symbol == "":
		return fmt.Errorf("%w: no symbol", ErrInvalidRange)
	case r.Kind != market.TypeOHLCV && r.Kind != market.TypeTrades:
		return fmt.Errorf("%w: %s: kind %q (want %s or %s)", ErrInvalidRange, r.Symbol, r.Kind, market.TypeOHLCV, market.TypeTrades)
	case r.From.IsZero() || r.To.IsZero():
		return fmt.Errorf("%w: %s: from and to are required", ErrInvalidRange, r.Symbol)
	case !r.From.Before(r.To):
		return fmt.Errorf("%w: %s: from %s is not before to %s", ErrInvalidRange, r.Symbol,
			r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	}
	return nil
}

func (b *Backfiller) key(r Range) Key {
	k := Key{Exchange: b.exchange, Symbol: r.Symbol, Kind: r.Kind, From: r.From.UTC(), To: r.To.UTC()}
	if r.Kind == market.TypeOHLCV {
		k.Timeframe = b.tf
	}
	return k
}

// plan resolves where each range starts; with fresh, earlier runs are
// ignored (a gap fill refetches what is missing now, whatever was
// fetched before).
func (b *Backfiller) plan(ctx context.Context, ranges []Range, fresh bool, sum *Summary) ([]task, Plan, error) {
	plan := Plan{Exchange: b.exchange, Timeframe: b.tf}
	tasks := make([]task, 0, len(ranges))
	for _, r := range ranges {
		if r.Kind == market.TypeTrades && !b.caps.HistoricalTrades {
			sum.Skipped++
			b.log.Warn("exchange keeps no trade history: trades not backfilled", "symbol", r.Symbol)
			continue
		}
		t := task{r: r, key: b.key(r), begin: r.From.UTC()}
		if r.Kind == market.TypeOHLCV {
			t.begin = alignUp(t.begin, b.tf.Duration())
		}
		t.cursor = t.begin
		if !fresh {
			c, ok, err := b.journal.Resume(ctx, t.key)
			if err != nil {
				return nil, plan, fmt.Errorf("reading backfill progress: %w", err)
			}
			if ok && c.After(t.cursor) {
				t.cursor = c
				if t.cursor.Before(r.To) {
					sum.Resumed++
					b.log.Info("resuming", "symbol", r.Symbol, "kind", r.Kind, "cursor", t.cursor)
				}
			}
		}
		if !t.cursor.Before(r.To) {
			sum.AlreadyDone++
			continue
		}
		plan.Ranges++
		plan.Total += r.To.Sub(t.begin)
		plan.Done += t.cursor.Sub(t.begin)
		tasks = append(tasks, t)
	}
	return tasks, plan, nil
}

// pageResult is what one stored page did.
type pageResult struct {
	returned int // rows the exchange returned, in range or not
	result   store.Result
}

// taskResult is what one range did.
type taskResult struct {
	requests int
	finished bool
	err      error
}

// page is one exchange answer turned into what to store and record.
type page[T any] struct {
	rows     []T // within the range, in time order
	returned int
	next     time.Time  // the cursor after this page
	stop     bool       // nothing further exists yet: end the range here for now
	coverage []Coverage // what the answer says was and was not there
}

func (b *Backfiller) runTask(ctx context.Context, t task, onPage func(pageResult)) taskResult {
	if t.r.Kind == market.TypeTrades {
		return b.tradeRange(ctx, t, onPage)
	}
	return b.candleRange(ctx, t, onPage)
}

// pageRange walks a range page by page from its cursor: fetch asks the
// exchange for the page at cursor (one request) as of asked, write checks
// and stores its rows. Each page is stored behind the next fetch.
func pageRange[T any](ctx context.Context, b *Backfiller, t task, onPage func(pageResult),
	fetch func(cursor, asked time.Time) (page[T], error),
	write func(ctx context.Context, asked time.Time, rows []T) (store.Result, error)) taskResult {
	var res taskResult
	var pending behind
	cursor := t.cursor
	for cursor.Before(t.r.To) {
		if err := ctx.Err(); err != nil {
			res.err = err
			break
		}
		asked := b.now()
		if cursor.After(asked) {
			break // nothing exists there yet
		}
		pg, err := fetch(cursor, asked)
		res.requests++
		if err != nil {
			res.err = err
			break
		}
		from := cursor
		if err := pending.next(func() error {
			return persist(ctx, b, t, from, pg, func(ctx context.Context, rows []T) (store.Result, error) {
				return write(ctx, asked, rows)
			}, onPage)
		}); err != nil {
			res.err = err // a page before this one was not stored
			return res
		}
		cursor = pg.next
		if pg.stop {
			break
		}
	}
	return res.end(pending.wait(), cursor, t.r.To)
}

func (b *Backfiller) candleRange(ctx context.Context, t task, onPage func(pageResult)) taskResult {
	tf := b.tf.Duration()
	fetch := func(cursor, asked time.Time) (page[market.Candle], error) {
		remaining := int((t.r.To.Sub(cursor) + tf - 1) / tf)
		limit := min(b.page, remaining)
		got, err := b.conn.OHLCV(ctx, t.r.Symbol, b.tf, cursor, limit)
		if err != nil {
			return page[market.Candle]{}, b.fetchError(ctx, t.r, err)
		}
		for i := range got { // identify rows a connector left bare; never relabel
			c := &got[i]
			c.Exchange, c.Symbol, c.Timeframe = cmp.Or(c.Exchange, b.exchange), cmp.Or(c.Symbol, t.r.Symbol), cmp.Or(c.Timeframe, b.tf)
		}
		return candlePage(got, cursor, t.r.To, tf, limit, asked)
	}
	return pageRange(ctx, b, t, onPage, fetch, func(ctx context.Context, asked time.Time, rows []market.Candle) (store.Result, error) {
		return checkedWrite(ctx, asked, rows, b.checks.HistoryCandles, b.sink.Candles)
	})
}

// behind stores a range's pages one at a time, in order, behind its
// fetches: the next page is asked for while the last one is checked,
// stored and recorded, so a range waits for the exchange or the database
// but not for both in turn. The rate limiter still spaces the asks.
type behind struct{ done chan error }

// next waits for the step before, then starts step unless that one failed
// (its error is returned and step does not run).
func (p *behind) next(step func() error) error {
	if err := p.wait(); err != nil {
		return err
	}
	p.done = make(chan error, 1)
	go func() { p.done <- step() }()
	return nil
}

// wait returns the error of the step running, once it ends.
func (p *behind) wait() error {
	if p.done == nil {
		return nil
	}
	err := <-p.done
	p.done = nil
	return err
}

// end adds the last page's outcome: the range finished only when every
// page is stored and the cursor reached to.
func (r taskResult) end(stored error, cursor, to time.Time) taskResult {
	r.err = errors.Join(r.err, stored)
	r.finished = r.err == nil && !cursor.Before(to)
	return r
}

// candlePage turns one OHLCV answer for since=cursor into the rows to
// store (open times in [cursor, to), Closed as of asked, when the request
// was sent), the next cursor and the coverage:
//   - an empty answer: the exchange has nothing in the asked window
//     (limit periods), so the cursor moves to its end;
//   - otherwise the cursor moves to the last candle's end, but never past
//     an open candle, so that a later run fetches it again once final;
//   - nothing is claimed about periods not yet finished at asked.
func candlePage(got []market.Candle, cursor, to time.Time, tf time.Duration, limit int, asked time.Time) (page[market.Candle], error) {
	horizon := asked.Truncate(tf) // open time of the period still running
	window := cursor.Add(time.Duration(limit) * tf)
	pg := page[market.Candle]{returned: len(got)}
	if len(got) == 0 {
		pg.next = minTime(window, to)
		if pg.next.After(horizon) {
			pg.next, pg.stop = maxTime(cursor, horizon), true
		}
		if pg.next.After(cursor) {
			pg.coverage = []Coverage{{AskedFrom: cursor, AskedTo: pg.next}}
		}
		return pg, nil
	}
	slices.SortStableFunc(got, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	last := got[len(got)-1].Time
	if last.Before(cursor) {
		return pg, fmt.Errorf("%w: asked from %s, last candle %s", ErrNoProgress, cursor.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339))
	}
	pg.next = minTime(last.Add(tf), to)
	for _, c := range got {
		if c.Time.Before(cursor) || !c.Time.Before(to) {
			continue
		}
		if n := len(pg.rows); n > 0 && pg.rows[n-1].Time.Equal(c.Time) {
			pg.rows = pg.rows[:n-1] // the exchange repeated a period: keep its last word
		}
		c.Closed = c.ClosedAt(asked)
		if !c.Closed && !pg.stop {
			pg.next, pg.stop = minTime(pg.next, c.Time), true
		}
		pg.rows = append(pg.rows, c)
	}
	// The answer speaks for its window (for a short page) or up to its last
	// candle (a full one), but never for periods that had not ended.
	end := minTime(maxTime(window, last.Add(tf)), maxTime(horizon, last.Add(tf)), to)
	cov := Coverage{AskedFrom: cursor, AskedTo: end, Rows: len(pg.rows)}
	if len(pg.rows) > 0 {
		cov.First, cov.Last = pg.rows[0].Time, pg.rows[len(pg.rows)-1].Time
	}
	// One row per request (dashboards count them so). A hole inside the
	// page is not recorded: filling it asks from its start, and that
	// answer's coverage then shows the exchange has nothing there.
	pg.coverage = []Coverage{cov}
	return pg, nil
}

func (b *Backfiller) tradeRange(ctx context.Context, t task, onPage func(pageResult)) taskResult {
	seen := map[string]bool{} // ids already stored at the cursor's instant
	fetch := func(cursor, asked time.Time) (page[market.Trade], error) {
		got, err := b.conn.Trades(ctx, t.r.Symbol, cursor, b.tradePg)
		if err != nil {
			return page[market.Trade]{}, b.fetchError(ctx, t.r, err)
		}
		for i := range got {
			got[i].Exchange, got[i].Symbol = cmp.Or(got[i].Exchange, b.exchange), cmp.Or(got[i].Symbol, t.r.Symbol)
		}
		pg := tradePage(got, cursor, t.r.To, b.tradePg, asked, seen)
		if pg.next.Equal(cursor.Add(time.Millisecond)) && len(pg.rows) == 0 {
			b.log.Warn("more trades in one millisecond than a page: the rest of it cannot be paged by time",
				"symbol", t.r.Symbol, "at", cursor)
		}
		if !pg.next.Equal(cursor) {
			clear(seen)
		}
		for _, tr := range pg.rows {
			if tr.Time.Equal(pg.next) {
				seen[tr.ID] = true
			}
		}
		return pg, nil
	}
	return pageRange(ctx, b, t, onPage, fetch, func(ctx context.Context, asked time.Time, rows []market.Trade) (store.Result, error) {
		return checkedWrite(ctx, asked, rows, b.checks.HistoryTrades, b.sink.Trades)
	})
}

// tradePage turns one Trades answer for since=cursor into the trades to
// store and the next cursor. Trades are paged by time, and several can
// share a millisecond, so the next page starts at the last trade's time
// again and the ids already seen there are dropped. An answer with nothing
// new means the exchange has nothing more up to asked.
func tradePage(got []market.Trade, cursor, to time.Time, limit int, asked time.Time, seen map[string]bool) page[market.Trade] {
	slices.SortStableFunc(got, func(a, b market.Trade) int { return a.Time.Compare(b.Time) })
	pg := page[market.Trade]{returned: len(got)}
	ids := map[string]bool{}
	beyond := false
	for _, tr := range got {
		if !tr.Time.Before(to) {
			beyond = true
			continue
		}
		if tr.Time.Before(cursor) || ids[tr.ID] || (tr.Time.Equal(cursor) && seen[tr.ID]) {
			continue
		}
		ids[tr.ID] = true
		pg.rows = append(pg.rows, tr)
	}
	switch {
	case beyond:
		pg.next = to
	case len(pg.rows) > 0:
		pg.next = pg.rows[len(pg.rows)-1].Time
	case len(got) >= limit && limit > 0 && got[len(got)-1].Time.Equal(cursor):
		// A full page of one instant, all seen: step past it (the rest of
		// that millisecond is out of reach of time paging).
		pg.next = cursor.Add(time.Millisecond)
	default:
		pg.next, pg.stop = maxTime(cursor, minTime(to, asked.Truncate(time.Millisecond))), true
	}
	if !pg.next.Before(to) {
		pg.next, pg.stop = to, false
	}
	cov := Coverage{AskedFrom: cursor, AskedTo: maxTime(pg.next, cursor.Add(time.Millisecond)), Rows: len(pg.rows)}
	if len(pg.rows) > 0 {
		cov.First, cov.Last = pg.rows[0].Time, pg.rows[len(pg.rows)-1].Time
		cov.AskedTo = maxTime(cov.AskedTo, cov.Last.Add(time.Millisecond))
	}
	pg.coverage = []Coverage{cov}
	return pg
}

// checkedWrite runs a page down the daemon's road (check) and stores what
// passes with write, synchronously. The result counts the rows the checks
// refused as rejected too: they are in ops.rejected_rows as well.
func checkedWrite[T any](ctx context.Context, started time.Time, rows []T,
	check func(context.Context, time.Time, []T, func(context.Context, []T) error) (ingest.Checked, error),
	write func(context.Context, []T) (store.Result, error)) (store.Result, error) {
	var res store.Result
	c, err := check(ctx, started, rows, func(ctx context.Context, accepted []T) error {
		var err error
		res, err = write(ctx, accepted)
		return err
	})
	res.Requested += c.Rejected
	res.Rejected += c.Rejected
	return res, err
}

// persist stores a page's rows with write, then records its coverage and
// the range's new cursor in one transaction: the cursor never passes rows
// that are not durable. Then it reports the page.
func persist[T any](ctx context.Context, b *Backfiller, t task, cursor time.Time, pg page[T],
	write func(context.Context, []T) (store.Result, error), onPage func(pageResult)) error {
	pctx, cancel := persistContext(ctx)
	defer cancel()
	var stored store.Result
	if len(pg.rows) > 0 {
		var err error
		if stored, err = write(pctx, pg.rows); err != nil {
			return fmt.Errorf("storing %s page at %s: %w", t.r.Kind, cursor.UTC().Format(time.RFC3339), err)
		}
	}
	p := Checkpoint{Key: t.key, Cursor: pg.next, Rows: int64(len(pg.rows)), Requests: 1, Done: !pg.next.Before(t.r.To)}
	if err := b.journal.Commit(pctx, p, pg.coverage); err != nil {
		return fmt.Errorf("recording progress at %s: %w", cursor.UTC().Format(time.RFC3339), err)
	}
	b.pageDone(t, cursor, pg.next, pageResult{returned: pg.returned, result: stored}, onPage)
	return nil
}

func (b *Backfiller) pageDone(t task, cursor, next time.Time, pr pageResult, onPage func(pageResult)) {
	b.log.Debug("page stored", "symbol", t.r.Symbol, "kind", t.r.Kind, "from", cursor, "next", next,
		"returned", pr.returned, "inserted", pr.result.Inserted, "duplicates", pr.result.Duplicates)
	onPage(pr)
	b.progress.Page(PageEvent{
		Symbol: t.r.Symbol, Kind: t.r.Kind, From: cursor, Cursor: next,
		Advanced: next.Sub(cursor), Returned: pr.returned, Result: pr.result,
	})
}

// fetchError keeps an undecodable answer in ops.rejected_rows (whole, as
// the exchange sent it) before failing the range; the cursor stays, so a
// later run asks again.
func (b *Backfiller) fetchError(ctx context.Context, r Range, err error) error {
	var de *exchange.DecodeError
	if errors.As(err, &de) && ctx.Err() == nil {
		row := ops.RejectedRow{
			Time: b.now(), Exchange: b.exchange, Symbol: string(r.Symbol), DataType: string(r.Kind),
			Source: "decode", Reason: de.Error(), Payload: de.Payload,
		}
		if _, rerr := b.sink.RejectedRows(ctx, []ops.RejectedRow{row}); rerr != nil {
			return errors.Join(err, fmt.Errorf("recording undecodable response: %w", rerr))
		}
	}
	return fmt.Errorf("fetching %s: %w", r.Kind, err)
}

// alignUp is the first period start at or after t. Every timeframe divides
// a day, so truncating (from year 1, a midnight) aligns to UTC days too.
func alignUp(t time.Time, tf time.Duration) time.Time {
	a := t.Truncate(tf)
	if a.Before(t) {
		a = a.Add(tf)
	}
	return a
}

func minTime(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

func maxTime(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}
