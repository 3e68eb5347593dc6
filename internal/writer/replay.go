package writer

import (
	"context"
	"fmt"

	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
)

// replayOne writes the oldest spooled batch; more reports whether others
// wait. An error means the database (or the disk) is not ready: try later.
func (w *Writer) replayOne(ctx context.Context) (more bool, err error) {
	table, rows, ok, err := w.sp.Peek(tables.NewRows)
	if err != nil {
		w.logger.Error("reading the spool failed", "err", err)
		return false, fmt.Errorf("reading spool: %w", err)
	}
	if !ok {
		return false, nil
	}
	batch, err := tables.Wrap(table, rows)
	if err == nil {
		var res store.Result
		res, err = w.st.Write(ctx, batch)
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
		w.refused(table, rows, batch.Len(), err) // counted 0 when Wrap refused them
	}
	if err := w.sp.Ack(); err != nil {
		return false, fmt.Errorf("acknowledging spooled batch: %w", err)
	}
	w.updatePressure()
	return w.sp.Pending() > 0, nil
}

// refused keeps n rows the database refused for good in the spool's
// quarantine, or drops them loudly. rows is a []T of table.
func (w *Writer) refused(table string, rows any, n int, cause error) {
	if q, ok := w.sp.(quarantiner); ok {
		err := q.Quarantine(table, rows, cause.Error())
		if err == nil {
			w.m.quarantined.WithLabelValues(table).Add(float64(n))
			w.logger.Error("database refused a batch: kept in the spool's quarantine (see `mdingest quarantine list`)",
				"table", table, "rows", n, "err", cause)
			return
		}
		w.logger.Error("quarantining refused rows failed", "table", table, "rows", n, "err", err)
	}
	w.m.dropped.WithLabelValues(table).Add(float64(n))
	w.logger.Error("database refused a batch: rows dropped unwritten", "table", table, "rows", n, "err", cause)
}
