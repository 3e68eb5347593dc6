package writer

import (
	"context"
	"fmt"
	"math"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

// spill appends a buffer to the spool, split to fit. Low-tier rows take
// room only below the soft limit; what does not fit stays in memory and
// the error says so.
func (w *Writer) spill(b buffer) error {
	table, n := string(b.name()), b.len()
	limit := 1.0
	if lowTier(b.name(), b.priority()) {
		limit = w.opts.SoftLimit
		if w.sp.Usage() >= limit {
			return fmt.Errorf("spooling %s: %w: the room above %.0f%% is kept for higher tiers", table, errNoRoom, 100*limit)
		}
	}
	sent, err := b.spoolPrefix(w.sp, limit)
	w.m.spilled.WithLabelValues(table).Add(float64(sent))
	w.m.pending.WithLabelValues(table).Set(float64(b.len()))
	if b.len() > 0 {
		return fmt.Errorf("spooling %s: %d of %d rows spooled, the rest waits in memory: %w", table, sent, n, cmpOr(err, errNoRoom))
	}
	return nil
}

// replayOne writes the oldest spooled batch; more reports whether others
// wait. An error means the database (or the disk) is not ready: try later.
func (w *Writer) replayOne(ctx context.Context) (more bool, err error) {
	table, rows, ok, err := w.sp.Peek()
	if err != nil {
		w.logger.Error("reading the spool failed", "err", err)
		return false, fmt.Errorf("reading spool: %w", err)
	}
	if !ok {
		return false, nil
	}
	b, known := w.byName[Table(table)]
	if !known {
		err = fmt.Errorf("%w: unknown table %q", errWrongRows, table)
	} else {
		var res store.Result
		res, err = b.writeRows(ctx, rows)
		if err == nil {
			w.countResult(table, res)
			w.m.replayed.WithLabelValues(table).Add(float64(res.Requested))
		}
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return false, fmt.Errorf("replaying %s: %w", table, err)
	case store.Retryable(err):
		w.m.flushErrors.WithLabelValues(table, "retryable").Inc()
		return false, fmt.Errorf("replaying %s: %w", table, err)
	default:
		w.m.flushErrors.WithLabelValues(table, "permanent").Inc()
		w.refused(Table(table), rowCount(rows), rows, err)
	}
	if err := w.sp.Ack(); err != nil {
		return false, fmt.Errorf("acknowledging spooled batch: %w", err)
	}
	w.updatePressure()
	return w.sp.Pending() > 0, nil
}

// refused keeps rows the database refused for good in the spool's
// quarantine, or drops them loudly.
func (w *Writer) refused(table Table, n int, rows any, cause error) {
	if q, ok := w.sp.(quarantiner); ok {
		err := q.Quarantine(string(table), rows, cause.Error())
		if err == nil {
			w.m.quarantined.WithLabelValues(string(table)).Add(float64(n))
			w.logger.Error("database refused a batch: kept in the spool's quarantine (see `mdingest quarantine list`)",
				"table", table, "rows", n, "err", cause)
			return
		}
		w.logger.Error("quarantining refused rows failed", "table", table, "rows", n, "err", err)
	}
	w.m.dropped.WithLabelValues(string(table)).Add(float64(n))
	w.logger.Error("database refused a batch: rows dropped unwritten", "table", table, "rows", n, "err", cause)
}

// abandon takes everything still queued or pending out of the writer into
// the spool: within its bound while there is room, past it otherwise (the
// bound is for running; losing rows at a stop is worse). It returns how
// many rows went past the bound, and how many could go nowhere.
func (w *Writer) abandon() (over, dropped int) {
	w.takeQueued()
	spooled := 0
	for _, b := range w.buffers {
		n := b.len()
		if n == 0 {
			continue
		}
		table := string(b.name())
		if w.sp != nil {
			sent, _ := b.spoolPrefix(w.sp, 1)
			if left := b.len(); left > 0 {
				forced, err := b.spoolPrefix(w.sp, math.Inf(1))
				if forced > 0 {
					over += forced
					w.m.overBound.WithLabelValues(table).Add(float64(forced))
					w.logger.Error("spool full: rows kept past store.spool_max_bytes", "table", table, "rows", forced)
				}
				if err != nil {
					w.logger.Error("spooling unwritten rows failed", "table", table, "rows", b.len(), "err", err)
				}
				sent += forced
			}
			spooled += sent
			w.m.spilled.WithLabelValues(table).Add(float64(sent))
		}
		if left := b.len(); left > 0 {
			w.m.dropped.WithLabelValues(table).Add(float64(left))
			w.logger.Error("rows dropped unwritten", "table", table, "rows", left)
			dropped += left
			b.take()
		}
		w.m.pending.WithLabelValues(table).Set(0)
		delete(w.stuck, b)
	}
	if w.sp != nil && (spooled > 0 || w.sp.Pending() > 0) {
		w.logger.Warn("stopping with rows in the spool; the next start replays them",
			"rows_spooled_now", spooled, "spooled_batches", w.sp.Pending())
	}
	return over, dropped
}

// rowCount is len(rows) for any row slice.
func rowCount(rows any) int {
	switch r := rows.(type) {
	case []market.Market:
		return len(r)
	case []market.Ticker:
		return len(r)
	case []market.OrderBook:
		return len(r)
	case []market.Candle:
		return len(r)
	case []market.Trade:
		return len(r)
	case []ops.QualityReport:
		return len(r)
	case []ops.RejectedRow:
		return len(r)
	case []ops.JobRun:
		return len(r)
	case []ops.RequestMetric:
		return len(r)
	}
	return 0
}
