package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/store"
)

// Run writes queued rows until Drain has flushed them, or until ctx ends
// (an abort: what is pending goes to the Spool, if any). It may be called
// once. Batches a Spool holds from an earlier run are replayed first.
// After a Drain it returns nil: the drain's outcome is Drain's to report.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case w.started:
		w.mu.Unlock()
		return ErrRunning
	}
	w.started = true
	w.mu.Unlock()
	defer close(w.exited)

	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	if w.sp != nil && w.sp.Pending() > 0 {
		w.logger.Info("replaying spooled batches", "records", w.sp.Pending())
		w.spooling = true
		w.arm(retry, 0)
	}
	w.updatePressure()
	stopping := w.stopping
	for {
		in := w.queue
		if w.held && stopping != nil {
			in = nil // rows can go nowhere: Puts block instead of memory growing
		}
		select {
		case <-stopping:
			stopping = nil // the last runs' rows are taken, for the drain to keep
			continue
		case it := <-in:
			it.add()
			b := it.b
			w.m.pending.WithLabelValues(b.name()).Set(float64(b.len()))
			if b.len() >= w.opts.BatchSize {
				w.afterFlush(w.flush(ctx, b), retry)
			}
		case <-tick.C:
			if !w.held {
				w.afterFlush(w.flushAll(ctx), retry)
			}
		case <-retry.C:
			w.armed = false
			w.retry(ctx, retry)
		case req := <-w.drainReq:
			req.done <- w.drain(req.ctx)
			return nil
		case <-ctx.Done():
			over, dropped := w.abandon()
			if err := unwritten(over, dropped, ctx.Err()); err != nil {
				return fmt.Errorf("stopped: %w", err)
			}
			return nil
		}
	}
}

// arm sets the retry timer.
func (w *Writer) arm(retry *time.Timer, d time.Duration) {
	retry.Reset(d)
	w.armed = true
}

// retry is the retry timer's work: replay one spooled batch (the timer
// fires again at once while more wait, so the intake is served between
// batches, and rows waiting in memory are spooled as room comes), then,
// with the spool empty, write the buffers directly again.
func (w *Writer) retry(ctx context.Context, retry *time.Timer) {
	if w.spooling {
		more, err := w.replayOne(ctx)
		if err != nil {
			w.arm(retry, w.bo.NextBackOff())
			return
		}
		w.bo.Reset()
		if more {
			if len(w.stuck) > 0 { // room again, maybe: spool what waits in memory
				w.afterFlush(w.flushAll(ctx), retry)
			}
			w.arm(retry, 0)
			return
		}
		w.spooling = false
		w.logger.Info("spool replayed, writing to the database again")
	}
	w.afterFlush(w.flushAll(ctx), retry)
}

// afterFlush updates the state after a flush: err means rows stayed in
// memory (no spool, or no room in it).
func (w *Writer) afterFlush(err error, retry *time.Timer) {
	defer w.updatePressure()
	wasHeld := w.held
	w.settle()
	if err != nil {
		if w.held && !wasHeld {
			w.logger.Warn("rows cannot be written nor spooled, holding the intake", "err", err)
		}
		if !w.armed {
			w.arm(retry, w.bo.NextBackOff())
		}
		return
	}
	if wasHeld && !w.held {
		w.logger.Info("writes resumed")
	}
	if w.spooling {
		if !w.armed {
			w.arm(retry, w.bo.NextBackOff())
		}
		return
	}
	w.bo.Reset()
}

// settle derives the intake's state from the buffers whose rows could go
// nowhere: low-tier rows waiting for room below the soft limit only make
// the low tiers wait; any other stops the intake.
func (w *Writer) settle() {
	w.held, w.waiting = false, false
	for b := range w.stuck {
		if w.sp != nil && lowTier(b.table, b.prio) {
			w.waiting = true
		} else {
			w.held = true
		}
	}
}

// flushAll flushes every non-empty buffer and returns the first failure
// that left rows in memory. Without a spool it stops there (the database
// is away); with one, the other tables still get their chance at the room
// left.
func (w *Writer) flushAll(ctx context.Context) error {
	var first error
	for _, b := range w.buffers {
		if err := w.flush(ctx, b); err != nil {
			if w.sp == nil || ctx.Err() != nil {
				return err
			}
			first = cmpOr(first, err)
		}
	}
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// flush writes one buffer: to the spool while spooling, else to the
// database, switching to the spool on a retryable failure. An error means
// rows stay in memory. A permanent failure quarantines the rows and
// returns nil so the other tables go on.
func (w *Writer) flush(ctx context.Context, b *buffer) (err error) {
	defer func() {
		if err != nil {
			w.stuck[b] = true
		} else {
			delete(w.stuck, b)
		}
	}()
	if b.len() == 0 {
		return nil
	}
	if w.spooling {
		return w.spill(b)
	}
	table := b.name()
	begin := time.Now()
	res, starts, err := b.flush(ctx, w.st)
	w.m.flushDuration.WithLabelValues(table).Observe(time.Since(begin).Seconds())
	switch {
	case err == nil:
		now := time.Now()
		for _, s := range starts {
			w.m.latency.WithLabelValues(table).Observe(now.Sub(s).Seconds())
		}
		w.countResult(table, res)
	case ctx.Err() != nil:
		// Stopping, not the rows' fault: keep them for the drain or the spool.
		return fmt.Errorf("writing %s: %w", table, err)
	case store.Retryable(err):
		w.m.flushErrors.WithLabelValues(table, "retryable").Inc()
		if w.sp == nil {
			return fmt.Errorf("writing %s: %w", table, err)
		}
		w.logger.Warn("database unreachable, spooling batches to disk until it is back", "table", table, "err", err)
		w.spooling = true
		return w.spill(b)
	default:
		w.m.flushErrors.WithLabelValues(table, "permanent").Inc()
		rows := b.take()
		w.refused(table, rows.Any(), rows.Len(), err)
	}
	w.m.pending.WithLabelValues(table).Set(float64(b.len()))
	return nil
}

func (w *Writer) countResult(table string, res store.Result) {
	w.m.rows.WithLabelValues(table, "inserted").Add(float64(res.Inserted))
	w.m.rows.WithLabelValues(table, "updated").Add(float64(res.Updated))
	w.m.rows.WithLabelValues(table, "duplicate").Add(float64(res.Duplicates))
	w.m.rows.WithLabelValues(table, "conflict").Add(float64(res.Conflicts))
	w.m.rows.WithLabelValues(table, "rejected").Add(float64(res.Rejected))
}

// takeQueued moves queued items into the buffers without blocking.
func (w *Writer) takeQueued() {
	for {
		select {
		case it := <-w.queue:
			it.add()
		default:
			return
		}
	}
}
