package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// The backfill's records (ops.backfill_progress, ops.backfill_coverage)
// and the candle queries its gap finding is made of.

// BackfillCursor returns the furthest cursor of any backfill of the
// series' range starting at from; found is false when none was recorded.
func (s *Store) BackfillCursor(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, from time.Time) (cursor time.Time, found bool, err error) {
	rows, err := s.pool.Query(ctx, `SELECT max(cursor_ts) FROM ops.backfill_progress
WHERE exchange = $1 AND symbol = $2 AND kind = $3 AND timeframe = $4 AND range_from = $5`,
		exchange, string(symbol), string(kind), string(tf), from)
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

// CommitBackfill records a stored page's coverage and its range's new
// progress in one transaction.
func (s *Store) CommitBackfill(ctx context.Context, p ops.BackfillProgress, cov []ops.Coverage) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := writeCoverage(ctx, tx, p.Exchange, p.Symbol, p.Kind, p.Timeframe, cov); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertProgress, p.Exchange, string(p.Symbol), string(p.Kind), string(p.Timeframe),
			p.From, p.To, p.Cursor, p.Rows, p.Requests, p.Done); err != nil {
			return fmt.Errorf("writing backfill progress: %w", err)
		}
		return nil
	})
}

// CoverageWithin lists the coverage recorded for the series that overlaps
// [from, to), oldest first.
func (s *Store) CoverageWithin(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, from, to time.Time) ([]ops.Coverage, error) {
	rows, err := s.pool.Query(ctx, `SELECT asked_from, asked_to, rows, first_ts, last_ts FROM ops.backfill_coverage
WHERE exchange = $1 AND symbol = $2 AND kind = $3 AND timeframe = $4 AND asked_from < $6 AND asked_to > $5
ORDER BY asked_from`, exchange, string(symbol), string(kind), string(tf), from, to)
	if err != nil {
		return nil, fmt.Errorf("reading coverage: %w", err)
	}
	type covRow struct {
		From, To    time.Time
		Rows        int32
		First, Last pgtype.Timestamptz
	}
	cov, err := pgx.CollectRows(rows, pgx.RowToStructByPos[covRow])
	if err != nil {
		return nil, fmt.Errorf("reading coverage: %w", err)
	}
	out := make([]ops.Coverage, len(cov))
	for i, c := range cov {
		out[i] = ops.Coverage{AskedFrom: c.From.UTC(), AskedTo: c.To.UTC(), Rows: int(c.Rows)}
		if c.First.Valid {
			out[i].First = c.First.Time.UTC()
		}
		if c.Last.Valid {
			out[i].Last = c.Last.Time.UTC()
		}
	}
	return out, nil
}

// CandleSymbols lists the exchange's symbols in market.candles with a skip
// scan over the primary key: one index probe per symbol, not a pass over
// every row.
func (s *Store) CandleSymbols(ctx context.Context, exchange string) ([]market.Symbol, error) {
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE s(symbol) AS (
	(SELECT symbol FROM market.candles WHERE exchange = $1 ORDER BY symbol LIMIT 1)
	UNION ALL
	SELECT (SELECT c.symbol FROM market.candles c WHERE c.exchange = $1 AND c.symbol > s.symbol ORDER BY c.symbol LIMIT 1)
	FROM s WHERE s.symbol IS NOT NULL
)
SELECT symbol FROM s WHERE symbol IS NOT NULL`, exchange)
	if err != nil {
		return nil, fmt.Errorf("listing symbols: %w", err)
	}
	ss, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing symbols: %w", err)
	}
	out := make([]market.Symbol, len(ss))
	for i, s := range ss {
		out[i] = market.Symbol(s)
	}
	return out, nil
}

// CandleBounds is where a candle series' stored candles lie around a
// window [from, to).
type CandleBounds struct {
	First, Last time.Time // the first and last candle in the window; zero: none
	Any         bool      // the series has a candle at all
	Before      bool      // it has one before from
	AtOrAfter   bool      // it has one at or after to
}

const boundsSQL = `SELECT min(ts), max(ts), EXISTS (
	SELECT 1 FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3), EXISTS (
	SELECT 1 FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts < $4), EXISTS (
	SELECT 1 FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $5)
FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $4 AND ts < $5`

// CandleBounds reads the series' bounds around [from, to).
func (s *Store) CandleBounds(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) (CandleBounds, error) {
	var first, last pgtype.Timestamptz
	var b CandleBounds
	if err := s.pool.QueryRow(ctx, boundsSQL, exchange, string(symbol), string(tf), from, to).
		Scan(&first, &last, &b.Any, &b.Before, &b.AtOrAfter); err != nil {
		return CandleBounds{}, fmt.Errorf("reading candle bounds: %w", err)
	}
	if first.Valid {
		b.First = first.Time.UTC()
	}
	if last.Valid {
		b.Last = last.Time.UTC()
	}
	return b, nil
}

// Span is a half-open time interval [From, To).
type Span struct{ From, To time.Time }

const holesSQL = `SELECT ts + $6::interval, next_ts FROM (
	SELECT ts, lead(ts) OVER (ORDER BY ts) AS next_ts
	FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $4 AND ts < $5
) c WHERE next_ts > ts + $6::interval ORDER BY ts`

// CandleHoles lists the stretches between stored candles of the series in
// [from, to) that hold none, oldest first: a lead() over the primary key's
// order, so an index scan.
func (s *Store) CandleHoles(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) ([]Span, error) {
	rows, err := s.pool.Query(ctx, holesSQL, exchange, string(symbol), string(tf), from, to, tf.Duration())
	if err != nil {
		return nil, fmt.Errorf("finding candle holes: %w", err)
	}
	holes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Span])
	if err != nil {
		return nil, fmt.Errorf("finding candle holes: %w", err)
	}
	for i := range holes {
		holes[i].From, holes[i].To = holes[i].From.UTC(), holes[i].To.UTC()
	}
	return holes, nil
}

// CandleRun is a run of consecutive candles: N of them, open times in
// [From, To).
type CandleRun struct {
	From, To time.Time
	N        int64
}

// openCandlesSQL finds runs of consecutive candles stored open (gaps and
// islands over the primary key's order).
const openCandlesSQL = `SELECT min(ts), max(ts) + $6::interval, count(*) FROM (
	SELECT ts, ts - (row_number() OVER (ORDER BY ts)) * $6::interval AS run
	FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND NOT closed AND ts >= $4 AND ts < $5
) o GROUP BY run ORDER BY 1`

// OpenCandleRuns lists the series' candles stored open in [from, to) as
// runs, oldest first.
func (s *Store) OpenCandleRuns(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) ([]CandleRun, error) {
	rows, err := s.pool.Query(ctx, openCandlesSQL, exchange, string(symbol), string(tf), from, to, tf.Duration())
	if err != nil {
		return nil, fmt.Errorf("finding open candles: %w", err)
	}
	runs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CandleRun])
	if err != nil {
		return nil, fmt.Errorf("finding open candles: %w", err)
	}
	for i := range runs {
		runs[i].From, runs[i].To = runs[i].From.UTC(), runs[i].To.UTC()
	}
	return runs, nil
}
