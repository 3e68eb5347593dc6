package writer

import (
	"fmt"
	"math"
)

// spill appends a buffer to the spool, split to fit. Low-tier rows take
// room only below the soft limit; what does not fit stays in memory and
// the error says so.
func (w *Writer) spill(b *buffer) error {
	table, n := b.name(), b.len()
	limit := 1.0
	if lowTier(b.table, b.prio) {
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
		table := b.name()
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
