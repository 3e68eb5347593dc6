package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// Both probes walk the primary key (exchange, symbol, timeframe, ts): the
// newest closed candle is found scanning back from the end, the oldest open
// one scanning forward from the window's start.
const candleCursorSQL = `SELECT
	(SELECT ts FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND closed
		ORDER BY ts DESC LIMIT 1),
	(SELECT ts FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND NOT closed
		AND ts >= $4 AND ts < $5 ORDER BY ts LIMIT 1)`

// CandleCursor reads a series' cursor; FirstOpen looks within [from, to).
func (s *Store) CandleCursor(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) (ops.CandleCursor, error) {
	var last, open pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, candleCursorSQL, exchange, string(symbol), string(tf), from, to).Scan(&last, &open); err != nil {
		return ops.CandleCursor{}, fmt.Errorf("reading the candle cursor of %s %s %s: %w", exchange, symbol, tf, err)
	}
	var c ops.CandleCursor
	if last.Valid {
		c.LastClosed = last.Time.UTC()
	}
	if open.Valid {
		c.FirstOpen = open.Time.UTC()
	}
	return c, nil
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// A refetch of the same window replaces what the earlier answer said.
const upsertCoverage = `INSERT INTO ops.backfill_coverage
	(exchange, symbol, kind, timeframe, asked_from, asked_to, rows, first_ts, last_ts, requested_at)
SELECT $1, $2, $3, $4, u.f, u.t, u.n, u.ft, u.lt, now()
FROM unnest($5::timestamptz[], $6::timestamptz[], $7::int[], $8::timestamptz[], $9::timestamptz[]) AS u(f, t, n, ft, lt)
ON CONFLICT (exchange, symbol, kind, timeframe, asked_from) DO UPDATE SET
	asked_to = EXCLUDED.asked_to, rows = EXCLUDED.rows, first_ts = EXCLUDED.first_ts,
	last_ts = EXCLUDED.last_ts, requested_at = EXCLUDED.requested_at`

// writeCoverage records coverage rows in ops.backfill_coverage through db,
// so that a backfill can write them in the transaction of its cursor
// (CommitBackfill). timeframe is "" for trades.
func writeCoverage(ctx context.Context, db execer, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, cov []ops.Coverage) error {
	if len(cov) == 0 {
		return nil
	}
	from := make([]time.Time, len(cov))
	to := make([]time.Time, len(cov))
	n := make([]int32, len(cov))
	first := make([]pgtype.Timestamptz, len(cov))
	last := make([]pgtype.Timestamptz, len(cov))
	for i, c := range cov {
		from[i], to[i], n[i] = c.AskedFrom, c.AskedTo, int32(c.Rows)
		first[i] = pgtype.Timestamptz{Time: c.First, Valid: !c.First.IsZero()}
		last[i] = pgtype.Timestamptz{Time: c.Last, Valid: !c.Last.IsZero()}
	}
	if _, err := db.Exec(ctx, upsertCoverage, exchange, string(symbol), string(kind), string(tf), from, to, n, first, last); err != nil {
		return fmt.Errorf("writing coverage of %s %s %s: %w", exchange, symbol, kind, err)
	}
	return nil
}

// Coverage records coverage rows (see writeCoverage).
func (s *Store) Coverage(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, cov []ops.Coverage) error {
	return writeCoverage(ctx, s.pool, exchange, symbol, kind, tf, cov)
}

var _ execer = pgx.Tx(nil)
