package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/ops"
)

// ErrNoHole is a hole id that is not in ops.trade_holes.
var ErrNoHole = errors.New("no such trade hole")

// LatestTrades returns the time of the newest trade stored for the
// symbol before `before` (zero: at any time) and the ids of the trades
// stored at that instant: where trade capture resumes. ok is false when
// no trade is stored.
func (s *Store) LatestTrades(ctx context.Context, exchange, symbol string, before time.Time) (at time.Time, ids []string, ok bool, err error) {
	bound := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if !before.IsZero() {
		bound = pgtype.Timestamptz{Time: before, Valid: true}
	}
	const q = `SELECT t.ts, t.trade_id FROM market.trades t
		WHERE t.exchange = $1 AND t.symbol = $2 AND t.ts = (
			SELECT ts FROM market.trades WHERE exchange = $1 AND symbol = $2 AND ts < $3 ORDER BY ts DESC LIMIT 1)`
	rows, err := s.pool.Query(ctx, q, exchange, symbol, bound)
	if err != nil {
		return time.Time{}, nil, false, fmt.Errorf("reading the latest trades of %s %s: %w", exchange, symbol, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&at, &id); err != nil {
			return time.Time{}, nil, false, fmt.Errorf("reading the latest trades of %s %s: %w", exchange, symbol, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, nil, false, fmt.Errorf("reading the latest trades of %s %s: %w", exchange, symbol, err)
	}
	return at.UTC(), ids, len(ids) > 0, nil
}

// RecordTradeHoles stores holes. A hole already recorded (same exchange,
// symbol and start) is kept as it is, so recording again is harmless.
func (s *Store) RecordTradeHoles(ctx context.Context, holes []ops.TradeHole) error {
	if len(holes) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, h := range holes {
		b.Queue(`INSERT INTO ops.trade_holes (exchange, symbol, from_ts, from_id, to_ts, to_id, reason, missed, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT ON CONSTRAINT trade_holes_once DO NOTHING`,
			h.Exchange, h.Symbol, h.From, h.FromID, h.To, optText(h.ToID), h.Reason, optInt(h.Missed), optText(clean(h.Detail)))
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("recording %d trade holes: %w", len(holes), err)
	}
	return nil
}

// HoleQuery selects trade holes.
type HoleQuery struct {
	Exchange string   // required
	Symbols  []string // nil: all
	// From and To keep the holes that overlap [From, To); zero: unbounded.
	From, To time.Time
	Status   string // "": every state
}

// TradeHoles lists holes, per symbol oldest first.
func (s *Store) TradeHoles(ctx context.Context, q HoleQuery) ([]ops.TradeHole, error) {
	var where []string
	args := []any{q.Exchange}
	where = append(where, "exchange = $1")
	if len(q.Symbols) > 0 {
		args = append(args, q.Symbols)
		where = append(where, fmt.Sprintf("symbol = ANY($%d)", len(args)))
	}
	if !q.From.IsZero() {
		args = append(args, q.From)
		where = append(where, fmt.Sprintf("to_ts > $%d", len(args)))
	}
	if !q.To.IsZero() {
		args = append(args, q.To)
		where = append(where, fmt.Sprintf("from_ts < $%d", len(args)))
	}
	if q.Status != "" {
		args = append(args, q.Status)
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	rows, err := s.pool.Query(ctx, `SELECT id, exchange, symbol, from_ts, from_id, to_ts, coalesce(to_id, ''), reason,
		coalesce(missed, 0), detected_at, status, filled_at, coalesce(filled_rows, 0), coalesce(detail, '')
		FROM ops.trade_holes WHERE `+strings.Join(where, " AND ")+` ORDER BY symbol, from_ts, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing trade holes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ops.TradeHole, error) {
		var h ops.TradeHole
		var filled pgtype.Timestamptz
		err := r.Scan(&h.ID, &h.Exchange, &h.Symbol, &h.From, &h.FromID, &h.To, &h.ToID, &h.Reason,
			&h.Missed, &h.Detected, &h.Status, &filled, &h.FilledRows, &h.Detail)
		h.From, h.To, h.Detected = h.From.UTC(), h.To.UTC(), h.Detected.UTC()
		if filled.Valid {
			h.FilledAt = filled.Time.UTC()
		}
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing trade holes: %w", err)
	}
	return out, nil
}

// SetTradeHoleStatus records what filling a hole came to.
func (s *Store) SetTradeHoleStatus(ctx context.Context, id int64, status string, rows int64, detail string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE ops.trade_holes SET status = $2, filled_at = now(), filled_rows = $3, detail = $4 WHERE id = $1`,
		id, status, rows, optText(clean(detail)))
	if err != nil {
		return fmt.Errorf("updating trade hole %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %d", ErrNoHole, id)
	}
	return nil
}

func optInt(n int64) pgtype.Int8 { return pgtype.Int8{Int64: n, Valid: n != 0} }
