// Package backfill fetches history (candles, and trades where the exchange
// keeps them) page by page through a connector at low rate-limit priority,
// so that a running daemon and a backfill share one budget. Every page is
// stored before the range's cursor moves past it, so a run stopped at any
// point resumes without refetching a finished page. What the exchange was
// asked and what it returned is kept as coverage, so that a hole the
// exchange never had can be told from one we missed; gaps.go finds the
// holes and fills them.
//
// Nothing is ever made up: only rows the exchange returned are stored.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
)

// Errors.
var (
	ErrInvalidOptions = errors.New("invalid backfill options")
	ErrInvalidRange   = errors.New("invalid backfill range")
	// ErrNoProgress is a page that did not move the cursor forward: the
	// exchange answered with rows older than asked for.
	ErrNoProgress = errors.New("exchange page did not advance")
	// ErrMismatch is a gap of another exchange or timeframe than the
	// Backfiller's.
	ErrMismatch = errors.New("gap does not match the backfiller's exchange and timeframe")
)

// Sink is where fetched rows go; *store.Store satisfies it. Writes must be
// durable when they return and idempotent (a page stored twice leaves one
// copy), since a crash between storing a page and recording the cursor
// makes a resumed run store that page again.
type Sink interface {
	Candles(ctx context.Context, rows []market.Candle) (store.Result, error)
	Trades(ctx context.Context, rows []market.Trade) (store.Result, error)
	RejectedRows(ctx context.Context, rows []ops.RejectedRow) (store.Result, error)
}

// Checks is the daemon's road for what a backfill fetched
// (*ingest.Pipeline): the quality checks, with rejected rows and quality
// reports recorded and the pipeline's metrics counted as for the daemon's
// own fetches. What passes is handed to put, which stores it through the
// Sink before the cursor moves.
type Checks interface {
	HistoryCandles(ctx context.Context, started time.Time, rows []market.Candle,
		put func(context.Context, []market.Candle) error) (ingest.Checked, error)
	HistoryTrades(ctx context.Context, started time.Time, rows []market.Trade,
		put func(context.Context, []market.Trade) error) (ingest.Checked, error)
}

// Range is one stretch of one symbol's history: [From, To).
type Range struct {
	Symbol market.Symbol
	Kind   market.DataType // market.TypeOHLCV or market.TypeTrades
	From   time.Time
	To     time.Time
}

// Ranges builds the ranges of one backfill command: candles for every
// symbol, and trades too when trades is set.
func Ranges(symbols []market.Symbol, from, to time.Time, trades bool) []Range {
	out := make([]Range, 0, 2*len(symbols))
	for _, s := range symbols {
		out = append(out, Range{Symbol: s, Kind: market.TypeOHLCV, From: from, To: to})
	}
	if trades {
		for _, s := range symbols {
			out = append(out, Range{Symbol: s, Kind: market.TypeTrades, From: from, To: to})
		}
	}
	return out
}

// Options configures a Backfiller.
type Options struct {
	Connector exchange.Connector // required
	Sink      Sink               // required
	Checks    Checks             // required: the exchange's *ingest.Pipeline
	Journal   Journal            // required: NewJournal(store)
	Timeframe market.Timeframe   // required: the candles' timeframe
	// PageSize is candles per request; 0 or more than the exchange's
	// Capabilities().MaxCandles means the maximum.
	PageSize int
	// TradePageSize is trades per request; 0: Capabilities().MaxTrades.
	TradePageSize int
	// Concurrency is how many ranges are fetched at once; default 1. The
	// rate limiter in the connector's client keeps the budget either way.
	Concurrency int
	Progress    Progress // nil: no progress reporting
	Logger      *slog.Logger
	Now         func() time.Time // nil: time.Now
}

// Backfiller runs backfills for one exchange and timeframe. Safe for
// sequential reuse; one Run at a time.
type Backfiller struct {
	conn     exchange.Connector
	exchange string
	caps     exchange.Capabilities
	sink     Sink
	checks   Checks
	journal  Journal
	tf       market.Timeframe
	page     int
	tradePg  int
	conc     int
	progress Progress
	log      *slog.Logger
	now      func() time.Time
}

// New checks opts and returns a Backfiller.
func New(opts Options) (*Backfiller, error) {
	switch {
	case opts.Connector == nil:
		return nil, fmt.Errorf("%w: no connector", ErrInvalidOptions)
	case opts.Sink == nil:
		return nil, fmt.Errorf("%w: no sink", ErrInvalidOptions)
	case opts.Checks == nil:
		return nil, fmt.Errorf("%w: no checks", ErrInvalidOptions)
	case opts.Journal == nil:
		return nil, fmt.Errorf("%w: no journal", ErrInvalidOptions)
	case opts.Timeframe.Duration() <= 0:
		return nil, fmt.Errorf("%w: unknown timeframe %q", ErrInvalidOptions, opts.Timeframe)
	case opts.PageSize < 0 || opts.TradePageSize < 0 || opts.Concurrency < 0:
		return nil, fmt.Errorf("%w: negative page size or concurrency", ErrInvalidOptions)
	}
	caps := opts.Connector.Capabilities()
	b := &Backfiller{
		conn: opts.Connector, exchange: opts.Connector.ID(), caps: caps,
		sink: opts.Sink, checks: opts.Checks, journal: opts.Journal, tf: opts.Timeframe,
		page: pageSize(opts.PageSize, caps.MaxCandles), tradePg: pageSize(opts.TradePageSize, caps.MaxTrades),
		conc: max(opts.Concurrency, 1), progress: opts.Progress, log: opts.Logger, now: opts.Now,
	}
	if b.progress == nil {
		b.progress = nopProgress{}
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("component", "backfill", "exchange", b.exchange)
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// defaultPage is the page size for an exchange that states no maximum.
const defaultPage = 500

// pageSize is the wanted size capped by the exchange's maximum.
func pageSize(want, maxN int) int {
	if maxN <= 0 {
		maxN = defaultPage
	}
	if want <= 0 || want > maxN {
		return maxN
	}
	return want
}

// Summary is what a run did.
type Summary struct {
	Ranges      int // ranges asked for
	Resumed     int // ranges continued from an earlier run's cursor
	AlreadyDone int // ranges an earlier run had finished: nothing fetched
	Finished    int // ranges that reached their end in this run
	Skipped     int // trades ranges on an exchange without historical trades
	Failed      int // ranges that stopped with an error
	Pages       int // pages fetched and stored
	EmptyPages  int // pages where the exchange had nothing
	Requests    int // connector calls, failed ones included
	Rows        int // rows the exchange returned within the ranges, sent to the sink
	Inserted    int
	Updated     int // open candles whose values changed
	Duplicates  int // rows already stored with the same values
	Conflicts   int // final rows stored with other values: kept, both versions in ops.rejected_rows
	Rejected    int // rows the checks or the store refused (kept in ops.rejected_rows)
	Elapsed     time.Duration
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d ranges (%d finished, %d resumed, %d already done", s.Ranges, s.Finished, s.Resumed, s.AlreadyDone)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	fmt.Fprintf(&b, "): %d requests, %d pages (%d empty), %d rows: %d inserted, %d updated, %d duplicates, %d conflicts, %d rejected in %s",
		s.Requests, s.Pages, s.EmptyPages, s.Rows, s.Inserted, s.Updated, s.Duplicates, s.Conflicts, s.Rejected, s.Elapsed.Round(time.Millisecond))
	return b.String()
}

func (s *Summary) addPage(p pageResult) {
	s.Pages++
	if p.returned == 0 {
		s.EmptyPages++
	}
	s.Rows += p.result.Requested
	s.Inserted += p.result.Inserted
	s.Updated += p.result.Updated
	s.Duplicates += p.result.Duplicates
	s.Conflicts += p.result.Conflicts
	s.Rejected += p.result.Rejected
}

// task is one range to fetch, with where it starts.
type task struct {
	r      Range
	key    Key
	cursor time.Time
	begin  time.Time // the range's aligned start, for progress
}

// Run fetches the ranges. A range an earlier run started from the same
// From continues from the furthest cursor any such run reached (so a
// backfill repeated with a later --to only fetches what is new). Ranges
// run independently: one failing does not stop the others, and the
// returned error joins the failures. When ctx ends, Run returns its error
// after recording every page already stored.
func (b *Backfiller) Run(ctx context.Context, ranges []Range) (Summary, error) {
	return b.run(ctx, ranges, false)
}

func (b *Backfiller) run(ctx context.Context, ranges []Range, fresh bool) (Summary, error) {
	start := b.now()
	ctx = priority.With(ctx, priority.Low)
	sum := Summary{Ranges: len(ranges)}
	for _, r := range ranges {
		if err := b.check(r); err != nil {
			return sum, err
		}
	}
	tasks, plan, err := b.plan(ctx, ranges, fresh, &sum)
	if err != nil {
		return sum, err
	}
	b.progress.Start(plan)

	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(b.conc)
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			res := b.runTask(ctx, t, func(p pageResult) {
				mu.Lock()
				sum.addPage(p)
				mu.Unlock()
			})
			mu.Lock()
			defer mu.Unlock()
			sum.Requests += res.requests
			if res.finished {
				sum.Finished++
			}
			// An interrupted range is reported once for the run, not per range.
			if res.err != nil && (ctx.Err() == nil || !errors.Is(res.err, ctx.Err())) {
				sum.Failed++
				errs = append(errs, fmt.Errorf("%s %s: %w", t.r.Symbol, t.r.Kind, res.err))
			}
			return nil
		})
	}
	_ = g.Wait() // tasks report through errs
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("backfill interrupted: %w", context.Cause(ctx)))
	}
	sum.Elapsed = b.now().Sub(start)
	b.progress.Finish(sum)
	return sum, errors.Join(errs...)
}
