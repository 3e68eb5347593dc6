// Package tables names the tables the warehouse writes and carries typed
// batches of their rows: what the pipeline hands its sink, the writer
// buffers and spools, and the store writes. Which tables there are, and
// which table a batch is of, is decided here; how a table is written is
// the store's.
package tables

import (
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
// is one line here, its description in the store (tables.go), its Store
// method, and its entry in the store's writes.
type Table[T any] struct {
	schema, name string
	// assign fixes in place what the store would fill in at write time
	// and must not change between tries: IDs, a rejected row's time.
	assign func(rows []T, now time.Time)
}

// The tables.
var (
	Symbols        = &Table[market.Market]{schema: "market", name: "symbols"}
	Tickers        = &Table[market.Ticker]{schema: "market", name: "tickers"}
	OrderBooks     = &Table[market.OrderBook]{schema: "market", name: "order_books"}
	Candles        = &Table[market.Candle]{schema: "market", name: "candles"}
	Trades         = &Table[market.Trade]{schema: "market", name: "trades"}
	QualityReports = &Table[ops.QualityReport]{schema: "ops", name: "quality_reports",
		assign: withIDs(func(r *ops.QualityReport) *uuid.UUID { return &r.ID })}
	RejectedRows = &Table[ops.RejectedRow]{schema: "ops", name: "rejected_rows",
		assign: func(rows []ops.RejectedRow, now time.Time) {
			for i := range rows {
				ensureID(&rows[i].ID)
				if rows[i].Time.IsZero() {
					rows[i].Time = now // part of the key
				}
			}
		}}
	JobRuns = &Table[ops.JobRun]{schema: "ops", name: "job_runs",
		assign: withIDs(func(r *ops.JobRun) *uuid.UUID { return &r.ID })}
	RequestMetrics = &Table[ops.RequestMetric]{schema: "ops", name: "request_metrics",
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

func ensureID(id *uuid.UUID) {
	if *id == uuid.Nil {
		*id = uuid.Must(uuid.NewV7())
	}
}

// All lists every table, market data first.
var All = []Descriptor{Symbols, Tickers, OrderBooks, Candles, Trades, QualityReports, RejectedRows, JobRuns, RequestMetrics}

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
}

// Name is the table's name in its schema: "candles" for market.candles.
func (t *Table[T]) Name() string { return t.name }

// MarketData reports a table of the market schema.
func (t *Table[T]) MarketData() bool { return t.schema == "market" }

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
		panic(fmt.Sprintf("tables: appending %s rows to %s rows", o.table.Name(), r.table.Name()))
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

// Lookup returns the table named name (Descriptor.Name).
func Lookup(name string) (Descriptor, bool) {
	for _, d := range All {
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
