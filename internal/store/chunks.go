package store

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// TimescaleDB creates a chunk under a lock on its hypertable that it holds
// until the creating transaction commits, so a second stream that needs a
// chunk of its own waits behind the first stream's whole part. A load that
// crosses many chunk ranges (one symbol's years of minutes) spent a fifth
// of its time so. So the first part a store writes into a chunk range is
// one row alone: its transaction creates the chunk and commits at once.

// chunkRanges are the time ranges of one hypertable's chunks: TimescaleDB
// cuts a time dimension into intervals aligned on the Unix epoch.
type chunkRanges struct {
	interval int64 // microseconds
	mu       sync.Mutex
	opened   map[int64]bool // the ranges this store has written into
}

// of is the range t falls in.
func (c *chunkRanges) of(t time.Time) int64 {
	us := t.UnixMicro()
	r := us / c.interval
	if us%c.interval < 0 {
		r-- // floor, for times before 1970
	}
	return r
}

// first reports whether r is a range this store has not written into
// before, and notes it written.
func (c *chunkRanges) first(r int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opened[r] {
		return false
	}
	c.opened[r] = true
	return true
}

// written reports whether this store has written into r.
func (c *chunkRanges) written(r int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened[r]
}

// chunksOf is the chunk ranges of a table: nil unless it is a hypertable
// partitioned by time alone (and the store has read them, copySlots).
func (s *Store) chunksOf(name pgx.Identifier) *chunkRanges {
	return s.chunks[strings.Join(name, ".")]
}

// hypertableRanges reads the chunk intervals of the hypertables that are
// partitioned by time alone.
func hypertableRanges(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) (map[string]*chunkRanges, error) {
	rows, err := q.Query(ctx, `
SELECT hypertable_schema || '.' || hypertable_name, (extract(epoch FROM max(time_interval)) * 1e6)::bigint
FROM timescaledb_information.dimensions
GROUP BY hypertable_schema, hypertable_name
HAVING count(*) = 1 AND bool_and(dimension_type = 'Time' AND time_interval IS NOT NULL)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*chunkRanges{}
	for rows.Next() {
		var name string
		var interval int64
		if err := rows.Scan(&name, &interval); err != nil {
			return nil, err
		}
		if interval > 0 {
			out[name] = &chunkRanges{interval: interval, opened: map[int64]bool{}}
		}
	}
	return out, rows.Err()
}

// nextPart is where the part of rows that starts at i ends: at most
// partRows rows, and before the first row of a range this store has not
// written into; a part that opens a range is its one row alone. Parts may
// go on into ranges written before, so that a daemon's batch of many
// series around a range's start is not cut at every series.
func nextPart[T any](rows []T, i int, at func(T) time.Time, c *chunkRanges) int {
	end := min(i+partRows, len(rows))
	if c == nil || at == nil {
		return end
	}
	r := c.of(at(rows[i]))
	if c.first(r) {
		return i + 1
	}
	for k := i + 1; k < end; k++ {
		if rk := c.of(at(rows[k])); rk != r {
			if !c.written(rk) {
				return k
			}
			r = rk
		}
	}
	return end
}
