package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// ErrWrongRows: rows that are not of their table's type, or a table this
// binary does not know.
var ErrWrongRows = errors.New("rows do not match a known table")

// Table is the descriptor of a table whose rows are T: what the writer's
// buffers, its spool records and the quarantine are keyed by. A new table
// is its description in tables.go, its Store method, and one line here.
type Table[T any] struct {
	t     *table[T]
	write func(*Store, context.Context, []T) (Result, error)
	// assign fixes in place what the store would fill in at write time
	// and must not change between tries: IDs, a rejected row's time.
	assign func(rows []T, now time.Time)
}

// The tables.
var (
	Symbols        = &Table[market.Market]{t: symbols, write: (*Store).Markets}
	Tickers        = &Table[market.Ticker]{t: tickers, write: (*Store).Tickers}
	OrderBooks     = &Table[market.OrderBook]{t: orderBooks, write: (*Store).OrderBooks}
	Candles        = &Table[market.Candle]{t: candles, write: (*Store).Candles}
	Trades         = &Table[market.Trade]{t: trades, write: (*Store).Trades}
	QualityReports = &Table[ops.QualityReport]{t: qualityReports, write: (*Store).QualityReports,
		assign: withIDs(func(r *ops.QualityReport) *uuid.UUID { return &r.ID })}
	RejectedRows = &Table[ops.RejectedRow]{t: rejectedRows, write: (*Store).RejectedRows,
		assign: func(rows []ops.RejectedRow, now time.Time) {
			for i := range rows {
				ensureID(&rows[i].ID)
				if rows[i].Time.IsZero() {
					rows[i].Time = now // part of the key
				}
			}
		}}
	JobRuns = &Table[ops.JobRun]{t: jobRuns, write: (*Store).JobRuns,
		assign: withIDs(func(r *ops.JobRun) *uuid.UUID { return &r.ID })}
	RequestMetrics = &Table[ops.RequestMetric]{t: requestMetrics, write: (*Store).RequestMetrics,
		assign: withIDs(func(r *ops.RequestMetric) *uuid.UUID { return &r.ID })}
)

// withIDs is an assign that gives each row an ID (id points at it).
func withIDs[T any](id func(*T) *uuid.UUID) func([]T, time.Time) {
	return func(rows []T, _ time.Time) {
		for i := range rows {
			ensureID(id(&rows[i]))
		}
	}
}

// Tables lists every table, market data first.
var Tables = []Descriptor{Symbols, Tickers, OrderBooks, Candles, Trades, QualityReports, RejectedRows, JobRuns, RequestMetrics}

// Descriptor is a Table whatever its row type.
type Descriptor interface {
	Name() string     // the table's name in its schema, e.g. "candles"
	MarketData() bool // in the market schema; the others are the ops record
	newRows() any     // a new *[]T, to decode a batch into
	wrap(rows any) Rows
	count(rows any) int
	appendAny(a, b any) any
	slice(rows any, i, j int) any
	assignAny(rows any, now time.Time)
	load(ctx context.Context, s *Store, rows any) (Result, error)
}

// Name is the table's name in its schema: "candles" for market.candles.
func (t *Table[T]) Name() string { return t.t.name[len(t.t.name)-1] }

// MarketData reports a table of the market schema.
func (t *Table[T]) MarketData() bool { return t.t.name[0] == "market" }

// Rows makes a batch of rows for t.
func (t *Table[T]) Rows(rows []T) Rows { return Rows{table: t, rows: rows} }

// Of returns the rows of a batch of t; false for another table's.
func (t *Table[T]) Of(r Rows) ([]T, bool) {
	if r.table != Descriptor(t) {
		return nil, false
	}
	return r.rows.([]T), true
}

func (t *Table[T]) newRows() any { return new([]T) }

func (t *Table[T]) wrap(v any) Rows {
	if rows, ok := v.([]T); ok {
		return t.Rows(rows)
	}
	return Rows{}
}

func (t *Table[T]) load(ctx context.Context, s *Store, rows any) (Result, error) {
	return t.write(s, ctx, rows.([]T))
}

// Rows is a batch of one table's rows; Table.Rows makes it, so the rows
// are always the table's type.
type Rows struct {
	table Descriptor
	rows  any // []T of table
}

// Table returns the table of the rows.
func (r Rows) Table() Descriptor { return r.table }

// Len returns the number of rows.
func (r Rows) Len() int {
	if r.table == nil {
		return 0
	}
	return r.table.count(r.rows)
}

// Any returns the rows, a []T of their table.
func (r Rows) Any() any { return r.rows }

// AssignIDs gives ops rows, in place, the IDs (and a rejected row the
// time) the store would give them at write time, so a batch written again
// (retried, spooled and replayed) stays one set of rows.
func (r Rows) AssignIDs(now time.Time) {
	if r.table != nil {
		r.table.assignAny(r.rows, now)
	}
}

func (t *Table[T]) count(rows any) int { return len(rows.([]T)) }

// appendAny appends b to a (nil: none yet) as append does: a new array
// when a is nil, so the rows Put was given are never written to.
func (t *Table[T]) appendAny(a, b any) any {
	var rows []T
	if a != nil {
		rows = a.([]T)
	}
	return append(rows, b.([]T)...)
}

func (t *Table[T]) slice(rows any, i, j int) any { return rows.([]T)[i:j:j] }

// Append returns r followed by o, which must be rows of the same table
// (an empty r takes o's). Like append, it copies into a new array when r
// is empty, and may reuse r's array otherwise.
func (r Rows) Append(o Rows) Rows {
	switch {
	case o.table == nil:
		return r
	case r.table == nil:
		r.table = o.table
	case r.table != o.table:
		panic(fmt.Sprintf("store: appending %s rows to %s rows", o.table.Name(), r.table.Name()))
	}
	r.rows = r.table.appendAny(r.rows, o.rows)
	return r
}

// Slice returns rows i to j, capped so that appending to them copies.
func (r Rows) Slice(i, j int) Rows {
	if r.table == nil {
		return r
	}
	r.rows = r.table.slice(r.rows, i, j)
	return r
}

func (t *Table[T]) assignAny(rows any, now time.Time) {
	if t.assign != nil {
		t.assign(rows.([]T), now)
	}
}

// Write stores a batch in its table, as the table's Store method does.
func (s *Store) Write(ctx context.Context, r Rows) (Result, error) {
	if r.table == nil {
		return Result{}, fmt.Errorf("%w: a batch without a table", ErrWrongRows)
	}
	return r.table.load(ctx, s, r.rows)
}

// Lookup returns the table named name (Descriptor.Name).
func Lookup(name string) (Descriptor, bool) {
	for _, d := range Tables {
		if d.Name() == name {
			return d, true
		}
	}
	return nil, false
}

// NewRows returns a new *[]T for the rows of the table named name, to
// decode a batch into; nil for a table this binary does not know.
func NewRows(name string) any {
	if d, ok := Lookup(name); ok {
		return d.newRows()
	}
	return nil
}

// Wrap makes a batch of rows read back for the table named name (from the
// spool, where rows travel as any).
func Wrap(name string, rows any) (Rows, error) {
	d, ok := Lookup(name)
	if !ok {
		return Rows{}, fmt.Errorf("%w: unknown table %q", ErrWrongRows, name)
	}
	r := d.wrap(rows)
	if r.table == nil {
		return Rows{}, fmt.Errorf("%w: %T for %s", ErrWrongRows, rows, name)
	}
	return r, nil
}
