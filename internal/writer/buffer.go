package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
)

// buffer is one table's pending rows.
type buffer interface {
	name() Table
	len() int
	priority() priority.Priority // the highest of the Puts that brought the pending rows
	flush(ctx context.Context) (store.Result, []time.Time, error)
	rows() any // the pending rows, left in place
	take() any
	// spoolPrefix appends the pending rows to sp in order, splitting them
	// to fit under limit, and drops what was appended; it returns how many
	// rows went and the last refusal when some are left.
	spoolPrefix(sp Spool, limit float64) (int, error)
	writeRows(ctx context.Context, rows any) (store.Result, error)
}

type buf[T any] struct {
	table  Table
	pend   []T
	starts []time.Time // one per Put, for latency
	prio   priority.Priority
	write  func(context.Context, []T) (store.Result, error)
}

func newBuf[T any](table Table, write func(context.Context, []T) (store.Result, error)) *buf[T] {
	return &buf[T]{table: table, write: write}
}

func (b *buf[T]) name() Table                 { return b.table }
func (b *buf[T]) len() int                    { return len(b.pend) }
func (b *buf[T]) rows() any                   { return b.pend }
func (b *buf[T]) priority() priority.Priority { return b.prio }

func (b *buf[T]) add(started time.Time, rows []T, prio priority.Priority) {
	if len(b.pend) == 0 || prio > b.prio {
		b.prio = prio
	}
	b.pend = append(b.pend, rows...)
	b.starts = append(b.starts, started)
}

// flush writes the rows; on error they stay for the next attempt (the
// store assigns IDs in place, so a retried batch stays idempotent).
func (b *buf[T]) flush(ctx context.Context) (store.Result, []time.Time, error) {
	res, err := b.write(ctx, b.pend)
	if err != nil {
		return res, nil, err
	}
	starts := b.starts
	b.pend, b.starts = nil, nil
	return res, starts, nil
}

func (b *buf[T]) take() any {
	rows := b.pend
	b.pend, b.starts = nil, nil
	return rows
}

// spoolPrefix tries the whole rest first, then halves the part tried after
// each refusal: a few attempts find the largest part that fits, and a
// batch larger than the spool goes in parts.
func (b *buf[T]) spoolPrefix(sp Spool, limit float64) (int, error) {
	sent := 0
	part := len(b.pend)
	var last error
	for len(b.pend) > 0 && part > 0 {
		part = min(part, len(b.pend))
		if err := sp.Append(string(b.table), b.pend[:part:part], limit); err != nil {
			last = err
			part /= 2
			continue
		}
		sent += part
		b.pend = b.pend[part:]
		last = nil
	}
	if len(b.pend) == 0 {
		b.pend, b.starts = nil, nil
	}
	return sent, last
}

// writeRows writes rows read back from the spool.
func (b *buf[T]) writeRows(ctx context.Context, rows any) (store.Result, error) {
	r, ok := rows.([]T)
	if !ok {
		return store.Result{}, fmt.Errorf("%w: %T for %s", errWrongRows, rows, b.table)
	}
	return b.write(ctx, r)
}
