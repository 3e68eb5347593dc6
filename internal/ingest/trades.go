package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/tables"
)

// Trade capture keeps every trade an exchange serves, not a sample. Each
// symbol has a cursor, the newest trade captured: read from the database
// at the first poll (the newest stored trade, so it survives restarts and
// never runs ahead of what is durable), then advanced in memory as each
// batch is handed to the writer. Each symbol is polled on its own clock:
//
//   - Exchanges that page (exchange.TradePager) are asked for the trades
//     after the cursor, page after page until caught up. Nothing is lost
//     however late a poll is, unless the cursor is older than anything
//     the exchange still serves: then the span is a hole (not_served).
//   - Exchanges that serve only their latest N trades (KuCoin, HTX, Bybit
//     spot) are polled often enough that each answer reaches back past
//     the cursor: the interval adapts to the symbol's observed trade rate
//     so that about Overlap of each answer was already captured. An
//     answer that does not reach the cursor leaves a hole: no_overlap
//     when the polls were on time, outage after failed polls or a restart.
//
// Every hole goes to ops.trade_holes and counts against the completeness
// of the batch that follows it.

// TradeLog is what trade capture needs of the database (*store.Store).
type TradeLog interface {
	// LatestTrades returns the time of the newest stored trade before
	// `before` (zero: any) and the ids stored at that instant.
	LatestTrades(ctx context.Context, exchange, symbol string, before time.Time) (time.Time, []string, bool, error)
	RecordTradeHoles(ctx context.Context, holes []ops.TradeHole) error
}

// TradeChecker validates trades knowing the holes before them
// (*quality.Checker).
type TradeChecker interface {
	CheckTradeStream(batch []market.Trade, gaps []quality.TradeGap, now time.Time, maxAge time.Duration) quality.Result[market.Trade]
}

// Lease says whether this process may capture now. Instances sharing a
// Redis take turns through it, so one of them captures an exchange's
// trades at a time; Held is asked before every poll and must be cheap.
type Lease interface {
	Held(ctx context.Context) bool
}

// CaptureReport sums a period of one exchange's trade capture, for
// ops.job_runs.
type CaptureReport struct {
	Started, Finished time.Time
	Rows              int64 // trades handed to the writer
	Polls             int64
	Failed            int64 // polls that failed
	Err               error // the first failure of the period
}

// TradeOptions configure a TradeCapture. Zero values take the defaults.
type TradeOptions struct {
	Log     TradeLog     // required
	Checker TradeChecker // required
	// Pager pages the exchange's trades (exchange.PagerOf); nil for an
	// exchange that serves only its latest trades.
	Pager exchange.TradePager
	// MinInterval and MaxInterval bound how often a symbol is polled;
	// defaults 100ms and 5m (the medium tier). A symbol's interval is as
	// long as its trade rate allows within them.
	MinInterval, MaxInterval time.Duration
	// Overlap is the share of a latest-N answer the next poll should find
	// already captured; default 0.75, so that a poll may come late by
	// three times its interval (a slow answer, a busy machine) and still
	// overlap. After a poll that did not overlap, the symbol's share
	// rises towards all of the answer, and eases back as polls overlap.
	Overlap float64
	// MaxPages is how many pages one poll fetches before the symbol waits
	// its turn again; default 20.
	MaxPages int
	// Concurrency is how many polls of the exchange run at once; default 4.
	Concurrency int
	Lease       Lease // nil: always capture
	// Report is called with each period's sums, every ReportEvery (default
	// a minute) and at the stop.
	Report      func(context.Context, CaptureReport)
	ReportEvery time.Duration
	// StopGrace is how long polls in flight when Run's context ends may
	// go on (their answers are handed on); default 10s, as the scheduler's.
	StopGrace time.Duration
}

// Errors.
var ErrNoTradeLog = errors.New("trade capture needs a trade log and a checker")

// TradeCapture captures one exchange's trades. Run it once.
type TradeCapture struct {
	p      *Pipeline
	o      TradeOptions
	log    *slog.Logger
	sem    *semaphore.Weighted
	page   int // trades per page asked of a pager
	latest int // trades per answer of a latest-N exchange
	ids    bool
	epoch  atomic.Int64 // bumped when the lease is taken (again): cursors reload
	held   atomic.Bool

	states map[market.Symbol]*symbolState // each owned by its symbol's loop

	mu     sync.Mutex
	period CaptureReport
}

// NewTradeCapture returns the trade capture of p's exchange.
func (p *Pipeline) NewTradeCapture(o TradeOptions) (*TradeCapture, error) {
	if o.Log == nil || o.Checker == nil {
		return nil, ErrNoTradeLog
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 100 * time.Millisecond
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 5 * time.Minute
	}
	o.MaxInterval = max(o.MaxInterval, o.MinInterval)
	if !(o.Overlap > 0 && o.Overlap < 1) {
		o.Overlap = 0.75
	}
	if o.MaxPages <= 0 {
		o.MaxPages = 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = time.Minute
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	caps := p.opts.Fetcher.Capabilities()
	c := &TradeCapture{
		p: p, o: o, log: p.logger.With("job", "trades"), sem: semaphore.NewWeighted(int64(o.Concurrency)),
		page:   exchange.PageSize(p.opts.TradeLimit, min(max(caps.MaxTrades, 1), 1000)),
		latest: exchange.PageSize(p.opts.TradeLimit, max(caps.MaxTrades, 1)), ids: caps.ConsecutiveTradeIDs,
		states: map[market.Symbol]*symbolState{},
	}
	for _, s := range p.opts.Symbols {
		c.states[s] = &symbolState{sym: s}
	}
	return c, nil
}

// Run captures until ctx ends. It starts once the markets are loaded.
func (c *TradeCapture) Run(ctx context.Context) error {
	for c.p.Markets() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.mu.Lock()
	c.period.Started = c.p.now()
	c.mu.Unlock()
	// Polls in flight at the stop finish within the grace: no new one starts.
	polls, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(c.o.StopGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-finished:
		}
	}()
	reported := make(chan struct{})
	go func() { defer close(reported); c.reporter(ctx) }()
	var g errgroup.Group
	for _, st := range c.states {
		g.Go(func() error { c.loop(ctx, polls, st); return nil })
	}
	err := g.Wait()
	close(finished)
	<-reported
	if c.o.Report != nil {
		c.report(context.WithoutCancel(ctx)) // the last period, polls at the stop included
	}
	return err
}

// PollOnce polls every active symbol once, in turn, and returns the
// trades handed on. Run does the same on each symbol's own clock.
func (c *TradeCapture) PollOnce(ctx context.Context) (int64, error) {
	var total int64
	var errs []error
	for _, s := range c.p.Symbols() {
		st := c.states[s]
		if st == nil || !c.holds(ctx) {
			continue
		}
		n, err := c.poll(priority.With(ctx, priority.High), st)
		c.count(n, err)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// symbolState is one symbol's capture, owned by its loop.
type symbolState struct {
	sym      market.Symbol
	cursor   exchange.TradeCursor
	atCursor map[string]bool // ids captured at the cursor's instant
	loaded   bool
	epoch    int64
	// restored: the cursor came from the database, so the gap before the
	// next answer spans a time the process was not capturing.
	restored bool
	failed   error // the last poll's failure, until one succeeds
	// reconcile: the database was away when capture started; the span
	// from its newest trade to first is a hole once it answers.
	reconcile bool
	first     *market.Trade
	lastPoll  time.Time
	rate      float64 // trades per second: quick to rise, slow to fall
	wait      time.Duration
	fill      float64 // share of an answer new trades may fill before the next poll; 0: 1 - Overlap
	lost      exchange.TradeCursor
	holes     []ops.TradeHole // recorded, not yet stored
}

// loop polls one symbol until ctx ends; polls run with pctx, which
// outlives ctx by the stop grace.
func (c *TradeCapture) loop(ctx, pctx context.Context, st *symbolState) {
	s := st.sym
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		started := c.p.now()
		wait := c.o.MinInterval
		switch {
		case !slices.Contains(c.p.Symbols(), s):
			wait = c.o.MaxInterval // not active on the exchange now
		case !c.holds(ctx):
			wait = time.Second // another instance captures
		default:
			if err := c.sem.Acquire(ctx, 1); err != nil {
				return
			}
			// High: a late poll of a latest-N exchange loses trades for good.
			rows, err := c.poll(priority.With(pctx, priority.High), st)
			c.sem.Release(1)
			if ctx.Err() != nil {
				c.count(rows, err)
				return
			}
			c.count(rows, err)
			wait = c.interval(st) - c.p.now().Sub(started)
		}
		timer.Reset(max(wait, 0))
	}
}

// holds reports whether this process may capture; taking the lease
// (again) makes every symbol reload its cursor, as another instance may
// have captured meanwhile.
func (c *TradeCapture) holds(ctx context.Context) bool {
	if c.o.Lease == nil {
		c.held.Store(true)
		return true
	}
	if !c.o.Lease.Held(ctx) {
		c.held.Store(false)
		return false
	}
	if c.held.CompareAndSwap(false, true) {
		c.epoch.Add(1)
	}
	return true
}

// interval is how long after the start of its last poll a symbol is
// polled again: the time its trade rate takes to fill (1 - Overlap) of an
// answer, within the bounds. A symbol that turns quiet waits up to
// MaxInterval, but the wait at most doubles from poll to poll, so one
// that wakes up is soon polled at its pace again; before any rate is
// known the wait starts at a second. After a failure it is at least a
// second.
func (c *TradeCapture) interval(st *symbolState) time.Duration {
	limit := 2 * st.wait
	switch {
	case st.wait == 0 && st.rate > 0:
		limit = c.o.MaxInterval // the first answer's rate is the best guess
	case st.wait == 0:
		limit = time.Second
	}
	d := min(c.target(st), max(limit, c.o.MinInterval))
	st.wait = d
	return d
}

func (c *TradeCapture) target(st *symbolState) time.Duration {
	n := c.latest
	if c.o.Pager != nil {
		n = c.page
	}
	fill := 0.5 // a pager loses nothing by waiting: half a page keeps requests few
	if c.o.Pager == nil {
		fill = c.fill(st)
	}
	d := c.o.MaxInterval
	if st.rate > 0 {
		d = time.Duration(fill * float64(n) / st.rate * float64(time.Second))
	}
	if st.failed != nil {
		d = max(d, time.Second)
	}
	return min(max(d, c.o.MinInterval), c.o.MaxInterval)
}

// fill is the share of an answer a symbol's new trades may fill before
// its next poll.
func (c *TradeCapture) fill(st *symbolState) float64 {
	if st.fill <= 0 {
		st.fill = 1 - c.o.Overlap
	}
	return st.fill
}

// count adds a poll to the period.
func (c *TradeCapture) count(rows int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.period.Polls++
	c.period.Rows += rows
	if err != nil {
		c.period.Failed++
		if c.period.Err == nil {
			c.period.Err = err
		}
	}
}

// reporter hands on the period's sums every ReportEvery; Run hands on
// the last one when the loops have stopped.
func (c *TradeCapture) reporter(ctx context.Context) {
	if c.o.Report == nil {
		return
	}
	tick := time.NewTicker(c.o.ReportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.report(ctx)
		}
	}
}

// report hands on the period, if anything happened in it.
func (c *TradeCapture) report(ctx context.Context) bool {
	c.mu.Lock()
	r := c.period
	r.Finished = c.p.now()
	c.period = CaptureReport{Started: r.Finished}
	c.mu.Unlock()
	if r.Polls == 0 {
		return false
	}
	if r.Failed > 0 {
		r.Err = fmt.Errorf("%d of %d polls failed, the first: %w", r.Failed, r.Polls, r.Err)
	}
	c.o.Report(ctx, r)
	return true
}

// poll fetches what is new for one symbol and hands it on.
func (c *TradeCapture) poll(ctx context.Context, st *symbolState) (rows int64, err error) {
	defer func() { st.failed = err }()
	if st.loaded && st.epoch != c.epoch.Load() {
		st.loaded = false
	}
	if !st.loaded {
		if err := c.load(ctx, st); err != nil {
			return 0, err
		}
	}
	if c.o.Pager != nil {
		rows, err = c.pageForward(ctx, st)
	} else {
		rows, err = c.pollLatest(ctx, st)
	}
	if err == nil && st.reconcile {
		c.reconcileStart(ctx, st)
	}
	c.flushHoles(ctx, st)
	return rows, err
}

// load reads the symbol's cursor from the database. A pager waits for the
// database: the exchange keeps the trades meanwhile. A latest-N exchange
// cannot wait: it captures from now and records the hole once the
// database answers.
func (c *TradeCapture) load(ctx context.Context, st *symbolState) error {
	at, ids, ok, err := c.o.Log.LatestTrades(ctx, c.p.exchange, string(st.sym), time.Time{})
	if err != nil {
		if c.o.Pager != nil {
			return fmt.Errorf("reading the trade cursor of %s: %w", st.sym, err)
		}
		c.log.Warn("database unreachable: capturing trades from now, the span before is checked once it answers", "symbol", st.sym, "err", err)
		st.reconcile, st.loaded = true, true
		st.epoch = c.epoch.Load()
		return nil
	}
	st.cursor, st.atCursor, st.restored = exchange.TradeCursor{}, nil, false
	if ok {
		st.cursor = exchange.TradeCursor{ID: maxID(ids), Time: at}
		st.atCursor = setOf(ids)
		st.restored = true
	}
	st.loaded, st.epoch = true, c.epoch.Load()
	return nil
}

// reconcileStart records the hole between the newest trade stored before
// capture started without the database and the first trade captured.
func (c *TradeCapture) reconcileStart(ctx context.Context, st *symbolState) {
	if st.first == nil {
		return
	}
	at, ids, ok, err := c.o.Log.LatestTrades(ctx, c.p.exchange, string(st.sym), st.first.Time)
	if err != nil {
		return // still away
	}
	st.reconcile = false
	if ok {
		from := exchange.TradeCursor{ID: maxID(ids), Time: at}
		c.addHole(st, from, *st.first, ops.HoleOutage, "the database was unreachable when capture started")
	}
	st.first = nil
}

// pageForward pages from the cursor until caught up or MaxPages.
func (c *TradeCapture) pageForward(ctx context.Context, st *symbolState) (int64, error) {
	var total int64
	var answered []market.Trade
	for range c.o.MaxPages {
		started := c.p.now()
		pg, err := c.o.Pager.TradesAfter(ctx, st.sym, st.cursor, c.page)
		if err != nil {
			return total, c.p.fetchFailed(ctx, market.TypeTrades, string(st.sym), started, err)
		}
		fresh := st.fresh(c.stamp(pg.Trades, st.sym))
		var gaps []quality.TradeGap
		if pg.Lost && !st.cursor.IsZero() && st.lost != st.cursor {
			st.lost = st.cursor
			to := market.Trade{Time: started}
			if len(fresh) > 0 {
				to = fresh[0]
			}
			gaps = append(gaps, c.addHole(st, st.cursor, to, ops.HoleNotServed, "the exchange no longer serves the trades after the cursor"))
		}
		n, err := c.hand(ctx, st, started, fresh, gaps)
		total += n
		if err != nil {
			return total, err
		}
		answered = append(answered, fresh...)
		if !pg.More || len(fresh) == 0 {
			c.observe(st, answered, started)
			return total, nil
		}
	}
	c.observe(st, answered, c.p.now())
	st.rate = math.Inf(1) // more pages wait: come back at once
	return total, nil
}

// pollLatest asks a latest-N exchange for its latest trades.
func (c *TradeCapture) pollLatest(ctx context.Context, st *symbolState) (int64, error) {
	started := c.p.now()
	got, err := c.p.opts.Fetcher.Trades(ctx, st.sym, time.Time{}, c.latest)
	if err != nil {
		return 0, c.p.fetchFailed(ctx, market.TypeTrades, string(st.sym), started, err)
	}
	got = c.stamp(got, st.sym)
	exchange.SortTrades(got)
	fresh := st.fresh(got)
	var gaps []quality.TradeGap
	if len(got) >= c.latest && len(fresh) == len(got) && !st.cursor.IsZero() {
		reason, why := ops.HoleNoOverlap, fmt.Sprintf("the answer's %d trades reach back %s, the poll came %s after the last",
			len(got), got[len(got)-1].Time.Sub(got[0].Time).Round(time.Millisecond), started.Sub(st.lastPoll).Round(time.Millisecond))
		switch {
		case st.failed != nil:
			reason, why = ops.HoleOutage, "polls failed: "+st.failed.Error()
		case st.restored:
			reason, why = ops.HoleOutage, "capture was not running"
		default:
			st.fill = c.fill(st) / 2 // poll sooner: polls come later than planned
		}
		gaps = append(gaps, c.addHole(st, st.cursor, got[0], reason, why))
	} else if !st.cursor.IsZero() {
		st.fill = min(c.fill(st)*1.01, 1-c.o.Overlap)
	}
	if st.reconcile && st.first == nil && len(got) > 0 {
		f := got[0]
		st.first = &f
	}
	n, err := c.hand(ctx, st, started, fresh, gaps)
	if err != nil {
		return n, err
	}
	c.observe(st, got, started)
	st.restored = false
	return n, nil
}

// stamp names the exchange and symbol where a connector left them out.
func (c *TradeCapture) stamp(ts []market.Trade, s market.Symbol) []market.Trade {
	for i := range ts {
		if ts[i].Exchange == "" {
			ts[i].Exchange = c.p.exchange
		}
		if ts[i].Symbol == "" {
			ts[i].Symbol = s
		}
	}
	return ts
}

// fresh keeps the trades after the cursor not captured yet, oldest first.
func (st *symbolState) fresh(ts []market.Trade) []market.Trade {
	out := make([]market.Trade, 0, len(ts))
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		if seen[t.ID] || !st.cursor.After(t) || (t.Time.Equal(st.cursor.Time) && st.atCursor[t.ID]) {
			continue
		}
		seen[t.ID] = true
		out = append(out, t)
	}
	return out
}

// observe updates the rate from an answer: trades per second over its
// span, taken at once when higher (a burst must not outrun the polls) and
// eased towards when lower.
func (c *TradeCapture) observe(st *symbolState, answer []market.Trade, polled time.Time) {
	var sample float64
	if n := len(answer); n >= 2 {
		if span := answer[n-1].Time.Sub(answer[0].Time).Seconds(); span > 0 {
			sample = float64(n-1) / span
		}
	}
	if sample == 0 && !st.lastPoll.IsZero() {
		if d := polled.Sub(st.lastPoll).Seconds(); d > 0 {
			sample = float64(len(answer)) / d
		}
	}
	switch {
	case math.IsInf(st.rate, 1) || sample > st.rate:
		st.rate = sample
	default:
		st.rate = 0.7*st.rate + 0.3*sample
	}
	st.lastPoll = polled
}

// hand checks a batch (the holes before it lower its completeness) and
// gives it to the writer. The cursor moves past it only once the writer
// has it, so a failed hand-over is fetched again.
func (c *TradeCapture) hand(ctx context.Context, st *symbolState, started time.Time, fresh []market.Trade, gaps []quality.TradeGap) (int64, error) {
	if len(fresh) == 0 {
		return 0, nil
	}
	// Fetched rows are handed on even when a stop is under way: the drain
	// writes them.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	n, err := process(pctx, c.p, batch[market.Trade]{
		dataType: market.TypeTrades, started: started, rows: fresh,
		check: func(rows []market.Trade, now time.Time, maxAge time.Duration) quality.Result[market.Trade] {
			return c.o.Checker.CheckTradeStream(rows, gaps, now, maxAge)
		},
		put: putTo(c.p.opts.Sink, tables.Trades),
		row: func(t market.Trade) (string, any) { return string(t.Symbol), t },
	})
	if err != nil {
		return n, err
	}
	last := fresh[len(fresh)-1]
	if st.atCursor == nil || !last.Time.Equal(st.cursor.Time) {
		st.atCursor = map[string]bool{}
	}
	for _, t := range fresh {
		if t.Time.Equal(last.Time) {
			st.atCursor[t.ID] = true
		}
	}
	st.cursor = exchange.CursorOf(last)
	return n, nil
}

// addHole records the span between the trade at from and to (to.ID
// empty: none came yet) and returns it as the next batch's gap.
func (c *TradeCapture) addHole(st *symbolState, from exchange.TradeCursor, to market.Trade, reason, detail string) quality.TradeGap {
	missed := c.missed(st, from, to)
	h := ops.TradeHole{Exchange: c.p.exchange, Symbol: string(st.sym), From: from.Time, FromID: from.ID,
		To: to.Time, ToID: to.ID, Reason: reason, Missed: missed, Detail: detail}
	if h.To.Before(h.From) {
		h.To = h.From
	}
	st.holes = append(st.holes, h)
	c.p.m.tradeHoles.WithLabelValues(c.p.exchange, reason).Inc()
	c.p.m.tradesMissed.WithLabelValues(c.p.exchange).Add(float64(missed))
	c.log.Warn("trades missed", "symbol", st.sym, "reason", reason, "from", from.Time, "to", to.Time, "missed", missed, "detail", detail)
	return quality.TradeGap{Exchange: c.p.exchange, Symbol: st.sym, Missed: int(min(missed, math.MaxInt32)),
		Detail: fmt.Sprintf("%s: about %d trades from %s to %s", reason, missed, from.Time.UTC().Format(time.RFC3339Nano), to.Time.UTC().Format(time.RFC3339Nano))}
}

// missed estimates the trades strictly between from and to: exact where
// ids are consecutive, else the observed rate over the span; at least 1.
func (c *TradeCapture) missed(st *symbolState, from exchange.TradeCursor, to market.Trade) int64 {
	if c.ids && to.ID != "" {
		a, errA := strconv.ParseInt(from.ID, 10, 64)
		b, errB := strconv.ParseInt(to.ID, 10, 64)
		if errA == nil && errB == nil && b > a {
			return max(b-a-1, 1)
		}
	}
	rate := st.rate
	if math.IsInf(rate, 0) || math.IsNaN(rate) {
		rate = 0
	}
	return max(int64(rate*to.Time.Sub(from.Time).Seconds()), 1)
}

// flushHoles stores the holes recorded so far; while the database is
// away they wait in memory.
func (c *TradeCapture) flushHoles(ctx context.Context, st *symbolState) {
	if len(st.holes) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.o.Log.RecordTradeHoles(wctx, st.holes); err != nil {
		c.log.Warn("recording trade holes failed; kept for the next poll", "symbol", st.sym, "holes", len(st.holes), "err", err)
		return
	}
	st.holes = nil
}

func maxID(ids []string) string {
	return slices.MaxFunc(ids, exchange.CompareTradeIDs)
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
