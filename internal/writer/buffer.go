package writer

import (
	"context"
	"time"

	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
)

// buffer is one table's pending rows.
type buffer struct {
	table  tables.Descriptor
	pend   tables.Rows
	starts []time.Time       // one per Put, for latency
	prio   priority.Priority // the highest of the Puts that brought the pending rows
}

func (b *buffer) name() string { return b.table.Name() }
func (b *buffer) len() int     { return b.pend.Len() }

func (b *buffer) add(started time.Time, rows tables.Rows, prio priority.Priority) {
	if b.len() == 0 || prio > b.prio {
		b.prio = prio
	}
	b.pend = b.pend.Append(rows)
	b.starts = append(b.starts, started)
}

// flush writes the rows; on error they stay for the next attempt (the
// store assigns IDs in place, so a retried batch stays idempotent).
func (b *buffer) flush(ctx context.Context, st Store) (store.Result, []time.Time, error) {
	res, err := st.Write(ctx, b.pend)
	if err != nil {
		return res, nil, err
	}
	starts := b.starts
	b.take()
	return res, starts, nil
}

// take empties the buffer and returns its rows.
func (b *buffer) take() tables.Rows {
	rows := b.pend
	b.pend, b.starts = tables.Rows{}, nil
	return rows
}

// spoolPrefix appends the pending rows to sp in order, splitting them to
// fit under limit, and drops what was appended; it returns how many rows
// went and the last refusal when some are left. It tries the whole rest
// first, then halves the part tried after each refusal: a few attempts
// find the largest part that fits, and a batch larger than the spool goes
// in parts.
func (b *buffer) spoolPrefix(sp Spool, limit float64) (int, error) {
	sent := 0
	part := b.len()
	var last error
	for b.len() > 0 && part > 0 {
		part = min(part, b.len())
		if err := sp.Append(b.name(), b.pend.Slice(0, part).Any(), limit); err != nil {
			last = err
			part /= 2
			continue
		}
		sent += part
		b.pend = b.pend.Slice(part, b.len())
		last = nil
	}
	if b.len() == 0 {
		b.take()
	}
	return sent, last
}
