package backfill

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
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

// DB is the part of a pgx pool (store.Store.Pool()) the journal and the
// gap queries use.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// PGJournal is the Journal in ops.backfill_progress and
// ops.backfill_coverage.
type PGJournal struct{ db DB }

// NewJournal returns the journal on db.
func NewJournal(db DB) *PGJournal { return &PGJournal{db: db} }

var _ Journal = (*PGJournal)(nil)

// Resume implements Journal.
func (j *PGJournal) Resume(ctx context.Context, k Key) (time.Time, bool, error) {
	rows, err := j.db.Query(ctx, `SELECT max(cursor_ts) FROM ops.backfill_progress
WHERE exchange = $1 AND symbol = $2 AND kind = $3 AND timeframe = $4 AND range_from = $5`,
		k.Exchange, string(k.Symbol), string(k.Kind), string(k.Timeframe), k.From)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("querying backfill progress: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[pgtype.Timestamptz])
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading backfill progress: %w", err)
	}
	if !c.Valid {
		return time.Time{}, false, nil
	}
	return c.Time.UTC(), true, nil
}

const upsertProgress = `INSERT INTO ops.backfill_progress AS p
	(exchange, symbol, kind, timeframe, range_from, range_to, cursor_ts, rows, requests, done, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
ON CONFLICT (exchange, symbol, kind, timeframe, range_from, range_to) DO UPDATE SET
	cursor_ts = EXCLUDED.cursor_ts, rows = p.rows + EXCLUDED.rows, requests = p.requests + EXCLUDED.requests,
	done = EXCLUDED.done, updated_at = now()`

// Commit implements Journal.
func (j *PGJournal) Commit(ctx context.Context, p Checkpoint, cov []Coverage) error {
	k := p.Key
	return pgx.BeginFunc(ctx, j.db, func(tx pgx.Tx) error {
		if err := store.WriteCoverage(ctx, tx, k.Exchange, k.Symbol, k.Kind, k.Timeframe, cov); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertProgress, k.Exchange, string(k.Symbol), string(k.Kind), string(k.Timeframe),
			k.From, k.To, p.Cursor, p.Rows, p.Requests, p.Done); err != nil {
			return fmt.Errorf("writing backfill progress: %w", err)
		}
		return nil
	})
}
