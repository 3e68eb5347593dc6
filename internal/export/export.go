// Package export writes stored market data (candles, trades, tickers, the
// top of the order book) as CSV or Parquet, for notebooks and tools that
// do not reach the database. Rows stream from the store to the writer:
// memory stays flat however long the range. Numbers are never floats: CSV
// and Parquet both carry them as the numeric text the database stores, so
// an export keeps the exchange's digits.
package export

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/mdingest/mdingest/internal/store"
)

// Format is an output format.
type Format string

// Formats.
const (
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// ErrFormat: a format Write does not write.
var ErrFormat = errors.New("unknown export format")

// Source is where the rows come from: *store.Store.
type Source interface {
	Export(ctx context.Context, q store.ExportQuery, fn func(row []any) error) (int64, error)
}

// rowWriter writes one format.
type rowWriter interface {
	write(row []any) error
	close() error
}

// Write streams the rows q selects from src to w in format f and returns
// how many it wrote. Whatever happens, what was written is a complete file
// of the rows before the failure (CSV flushed, Parquet closed with its
// footer), and the error says the export is incomplete.
func Write(ctx context.Context, src Source, q store.ExportQuery, f Format, w io.Writer) (int64, error) {
	cols, err := store.ExportColumns(q.Kind)
	if err != nil {
		return 0, err
	}
	var rw rowWriter
	switch f {
	case CSV:
		rw = newCSVWriter(w, cols)
	case Parquet:
		rw = newParquetWriter(w, string(q.Kind), cols)
	default:
		return 0, fmt.Errorf("%w %q: want csv or parquet", ErrFormat, f)
	}
	n, err := src.Export(ctx, q, rw.write)
	if cerr := rw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("export incomplete after %d rows: %w", n, err)
	}
	return n, nil
}

// csvWriter writes a header row, then each value as text: numbers as
// stored, times in RFC 3339 (UTC, fractions as stored), NULL as empty.
type csvWriter struct {
	w   *csv.Writer
	rec []string
	err error
}

func newCSVWriter(w io.Writer, cols []store.ExportColumn) *csvWriter {
	c := &csvWriter{w: csv.NewWriter(w), rec: make([]string, len(cols))}
	for i, col := range cols {
		c.rec[i] = col.Name
	}
	c.err = c.w.Write(c.rec)
	return c
}

func (c *csvWriter) write(row []any) error {
	if c.err != nil {
		return c.err
	}
	for i, v := range row {
		c.rec[i] = text(v)
	}
	// csv.Writer buffers; its errors surface on a later write or the flush.
	c.err = c.w.Write(c.rec)
	return c.err
}

func (c *csvWriter) close() error {
	c.w.Flush()
	if c.err != nil {
		return c.err
	}
	return c.w.Error()
}

// text is a value's CSV form.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprint(v)
}

// rowsPerGroup bounds a Parquet row group, the unit the writer holds in
// memory before writing it out.
const rowsPerGroup = 64 * 1024

// parquetWriter writes a flat schema in the columns' order: numeric text
// and text as UTF-8 strings, times as TIMESTAMP(MICROS, UTC) (what the
// database keeps), booleans, 64-bit integers; nullable columns optional.
type parquetWriter struct {
	w    *parquet.Writer
	cols []store.ExportColumn
	rows []parquet.Row // one row, reused: the writer copies its values
}

func newParquetWriter(w io.Writer, name string, cols []store.ExportColumn) *parquetWriter {
	group := parquet.Group{}
	order := make([]string, len(cols))
	for i, c := range cols {
		var n parquet.Node
		switch c.Type {
		case store.ColTime:
			n = parquet.Timestamp(parquet.Microsecond)
		case store.ColBool:
			n = parquet.Leaf(parquet.BooleanType)
		case store.ColInt:
			n = parquet.Int(64)
		default:
			n = parquet.String()
		}
		if c.Nullable {
			n = parquet.Optional(n)
		}
		group[c.Name] = n
		order[i] = c.Name
	}
	schema := parquet.NewSchema(name, orderedGroup{Group: group, order: order})
	return &parquetWriter{
		w:    parquet.NewWriter(w, schema, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(rowsPerGroup)),
		cols: cols,
		rows: []parquet.Row{make(parquet.Row, 0, len(cols))},
	}
}

func (p *parquetWriter) write(row []any) error {
	r := p.rows[0][:0]
	for i, v := range row {
		var pv parquet.Value
		switch v := v.(type) {
		case nil:
			pv = parquet.NullValue()
		case string:
			pv = parquet.ByteArrayValue([]byte(v))
		case time.Time:
			pv = parquet.Int64Value(v.UnixMicro())
		case bool:
			pv = parquet.BooleanValue(v)
		case int64:
			pv = parquet.Int64Value(v)
		default:
			return fmt.Errorf("column %s: unexpected %T", p.cols[i].Name, v)
		}
		def := 0
		if p.cols[i].Nullable && v != nil {
			def = 1
		}
		r = append(r, pv.Level(0, def, i))
	}
	p.rows[0] = r
	_, err := p.w.WriteRows(p.rows)
	return err
}

func (p *parquetWriter) close() error { return p.w.Close() }

// orderedGroup is a Parquet group whose fields keep the given order
// (parquet.Group sorts them by name), so that a notebook sees exchange,
// symbol, ts... as in the CSV.
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	byName := map[string]parquet.Field{}
	for _, f := range g.Group.Fields() {
		byName[f.Name()] = f
	}
	out := make([]parquet.Field, len(g.order))
	for i, name := range g.order {
		out[i] = byName[name]
	}
	return out
}
