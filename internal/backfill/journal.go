package backfill

import (
	"context"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// Key identifies one range in ops.backfill_progress.
type Key struct {
	Exchange  string
	Symbol    market.Symbol
	Kind      market.DataType
	Timeframe market.Timeframe // "" for trades
	From, To  time.Time
}

// Checkpoint is a range's state after a stored page. [From, Cursor) has been
// fetched and stored; Rows and Requests are added to the recorded counts.
type Checkpoint struct {
	Key
	Cursor   time.Time
	Rows     int64
	Requests int64
	Done     bool
}

// Coverage is what one request asked for and what came back (see
// ops.Coverage): Rows = 0 says the exchange had nothing there when asked.
type Coverage = ops.Coverage

// Journal keeps the backfill's own records: where each range stands, and
// the coverage of every page.
type Journal interface {
	// Resume returns the furthest cursor of any run of the key's exchange,
	// symbol, kind and timeframe that started at the key's From.
	Resume(ctx context.Context, k Key) (cursor time.Time, found bool, err error)
	// Commit records a stored page's coverage and its range's new cursor,
	// atomically.
	Commit(ctx context.Context, p Checkpoint, cov []Coverage) error
}

// ProgressStore is where a StoreJournal keeps its records (*store.Store).
type ProgressStore interface {
	BackfillCursor(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, from time.Time) (time.Time, bool, error)
	CommitBackfill(ctx context.Context, p ops.BackfillProgress, cov []ops.Coverage) error
}

// StoreJournal is the Journal in ops.backfill_progress and
// ops.backfill_coverage.
type StoreJournal struct{ st ProgressStore }

// NewJournal returns the journal in st.
func NewJournal(st ProgressStore) *StoreJournal { return &StoreJournal{st: st} }

var _ Journal = (*StoreJournal)(nil)

// Resume implements Journal.
func (j *StoreJournal) Resume(ctx context.Context, k Key) (time.Time, bool, error) {
	return j.st.BackfillCursor(ctx, k.Exchange, k.Symbol, k.Kind, k.Timeframe, k.From)
}

// Commit implements Journal.
func (j *StoreJournal) Commit(ctx context.Context, p Checkpoint, cov []Coverage) error {
	k := p.Key
	return j.st.CommitBackfill(ctx, ops.BackfillProgress{Exchange: k.Exchange, Symbol: k.Symbol, Kind: k.Kind, Timeframe: k.Timeframe,
		From: k.From, To: k.To, Cursor: p.Cursor, Rows: p.Rows, Requests: p.Requests, Done: p.Done}, cov)
}
