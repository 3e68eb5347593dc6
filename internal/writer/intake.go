package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/tables"
)

// item is one Put's rows on their way to the loop, which adds them to b.
type item struct {
	b       *buffer
	rows    tables.Rows
	started time.Time
	prio    priority.Priority
}

// add appends the rows to their buffer, in the loop's goroutine.
func (it item) add() { it.b.add(it.started, it.rows, it.prio) }

// Put queues a batch for its table (tables.Candles.Rows(candles), ...);
// started is when the request that fetched it began, for the end-to-end
// latency metric. It blocks while the queue is full, or while the spool's
// pressure holds the batch's tier, until ctx ends. Ops rows get their IDs
// here, in place (see Writer).
func (w *Writer) Put(ctx context.Context, started time.Time, rows tables.Rows) error {
	if rows.Len() == 0 {
		return nil
	}
	b := w.byTable[rows.Table()]
	rows.AssignIDs(time.Now())
	it := item{b: b, rows: rows, started: started, prio: priority.From(ctx)}
	table := b.name()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("queueing %s: %w", table, ErrClosed)
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()
	if err := w.admit(ctx, b.table); err != nil {
		return err
	}
	select {
	case w.queue <- it:
		return nil
	default:
	}
	w.m.blocked.Inc()
	select {
	case w.queue <- it:
		return nil
	case <-w.closing:
		return fmt.Errorf("queueing %s: %w", table, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("queueing %s (queue full): %w", table, ctx.Err())
	}
}

// Stopping tells the writer the process is stopping: Puts no longer wait
// for room in the spool, and rows that fit nowhere are held in memory for
// the drain (which spools them, past the bound if it must) instead of
// jobs being cut off with their rows in hand. Call it when the stop
// begins, before the jobs finish; Drain follows.
func (w *Writer) Stopping() {
	w.stopOnce.Do(func() { close(w.stopping) })
}
