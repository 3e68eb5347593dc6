package store

import (
	"context"
	"fmt"

	"github.com/mdingest/mdingest/internal/tables"
)

// writes is how each table's batches are written: its Store method.
var writes = map[tables.Descriptor]func(*Store, context.Context, tables.Rows) (Result, error){
	tables.Symbols:        writeWith(tables.Symbols, (*Store).Markets),
	tables.Tickers:        writeWith(tables.Tickers, (*Store).Tickers),
	tables.OrderBooks:     writeWith(tables.OrderBooks, (*Store).OrderBooks),
	tables.Candles:        writeWith(tables.Candles, (*Store).Candles),
	tables.Trades:         writeWith(tables.Trades, (*Store).Trades),
	tables.QualityReports: writeWith(tables.QualityReports, (*Store).QualityReports),
	tables.RejectedRows:   writeWith(tables.RejectedRows, (*Store).RejectedRows),
	tables.JobRuns:        writeWith(tables.JobRuns, (*Store).JobRuns),
	tables.RequestMetrics: writeWith(tables.RequestMetrics, (*Store).RequestMetrics),
}

// writeWith writes t's batches with write.
func writeWith[T any](t *tables.Table[T], write func(*Store, context.Context, []T) (Result, error)) func(*Store, context.Context, tables.Rows) (Result, error) {
	return func(s *Store, ctx context.Context, r tables.Rows) (Result, error) {
		rows, _ := t.Of(r) // writes is keyed by r's table
		return write(s, ctx, rows)
	}
}

// Write stores a batch in its table, as the table's Store method does.
func (s *Store) Write(ctx context.Context, r tables.Rows) (Result, error) {
	if r.Table() == nil {
		return Result{}, fmt.Errorf("%w: a batch without a table", tables.ErrWrongRows)
	}
	write, ok := writes[r.Table()]
	if !ok {
		return Result{}, fmt.Errorf("%w: no write for %s", tables.ErrWrongRows, r.Table().Name())
	}
	return write(s, ctx, r)
}
