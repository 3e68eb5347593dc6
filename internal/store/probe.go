package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/ops"
)

// A probe reads what is already stored in a batch's key ranges before the
// batch is written, so that
//   - rows known to be new are copied straight into the table (no stage,
//     no merge);
//   - rows stored with the same values cost no write at all, which makes
//     reloading a file that is already in cheaper than loading it;
//   - a final row stored with other values is told from a duplicate: a
//     conflict, kept with both versions.
//
// A batch sorted by key falls into runs of rows sharing the key's leading
// columns (exchange, symbol and, for candles, timeframe). Each run is one
// index range scan returning the stored rows in key order, merge-joined
// with the run.
type probe[T any] struct {
	// sameRun reports whether two rows, adjacent in key order, belong to
	// one range.
	sameRun func(a, b T) bool
	// sql selects the stored rows of a run: key columns after the run's
	// own first, then compared columns, ordered as cmp orders rows.
	sql  string
	args func(run []T) []any
	// cmpKey compares a stored row (binary values) with a row, by key.
	cmpKey func(raw [][]byte, row T) int
	// verdict judges a row against the stored row with its key.
	verdict func(raw [][]byte, row T, scratch *[]byte) verdict
	// conflict describes a conflict for ops.rejected_rows: both versions
	// and what differs.
	conflict func(raw [][]byte, row T) (ops.RejectedRow, error)
}

type verdict uint8

const (
	vNew      verdict = iota // not stored: copied in
	vSame                    // stored with the same values, or stored final while the row is not
	vChanged                 // stored, may still change, and differs: merged
	vConflict                // stored final with other values: kept, recorded
)

// probed is a batch split by what is stored.
type probed[T any] struct {
	marks     []verdict
	fresh     int // rows marked vNew
	changed   int
	same      int
	conflicts []ops.RejectedRow
}

// rowsMarked returns the rows marked v, in order; the batch itself when
// every row is.
func rowsMarked[T any](rows []T, marks []verdict, v verdict, n int) []T {
	if n == len(rows) {
		return rows
	}
	out := make([]T, 0, n)
	for i, m := range marks {
		if m == v {
			out = append(out, rows[i])
		}
	}
	return out
}

// runProbe reads the stored rows of rows (sorted by key, unique) in one
// round trip and marks each row.
func runProbe[T any](ctx context.Context, tx pgx.Tx, t *table[T], rows []T) (probed[T], error) {
	p := t.probe
	res := probed[T]{marks: make([]verdict, len(rows))}
	var runs [][2]int
	var b pgx.Batch
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && p.sameRun(rows[j-1], rows[j]) {
			j++
		}
		runs = append(runs, [2]int{i, j})
		b.Queue(p.sql, p.args(rows[i:j])...)
		i = j
	}
	br := tx.SendBatch(ctx, &b)
	var scratch []byte
	for _, r := range runs {
		run := rows[r[0]:r[1]]
		marks := res.marks[r[0]:r[1]]
		q, err := br.Query()
		if err != nil {
			_ = br.Close()
			return res, fmt.Errorf("probing %s: %w", t.name.Sanitize(), err)
		}
		if err := binaryResults(q.FieldDescriptions()); err != nil {
			q.Close()
			_ = br.Close()
			return res, err
		}
		k := 0
		for q.Next() {
			raw := q.RawValues()
			for k < len(run) && p.cmpKey(raw, run[k]) > 0 {
				k++ // not stored: vNew
			}
			if k == len(run) {
				break
			}
			if p.cmpKey(raw, run[k]) < 0 {
				continue // a stored row the batch does not have
			}
			v := p.verdict(raw, run[k], &scratch)
			marks[k] = v
			if v == vConflict {
				c, err := p.conflict(raw, run[k])
				if err != nil {
					q.Close()
					_ = br.Close()
					return res, fmt.Errorf("reading a conflicting %s row: %w", t.name.Sanitize(), err)
				}
				res.conflicts = append(res.conflicts, c)
			}
			k++
		}
		q.Close()
		if err := q.Err(); err != nil {
			_ = br.Close()
			return res, fmt.Errorf("probing %s: %w", t.name.Sanitize(), err)
		}
	}
	if err := br.Close(); err != nil {
		return res, fmt.Errorf("probing %s: %w", t.name.Sanitize(), err)
	}
	for _, m := range res.marks {
		switch m {
		case vNew:
			res.fresh++
		case vSame:
			res.same++
		case vChanged:
			res.changed++
		}
	}
	return res, nil
}

// binaryResults checks that the values the probe decodes came in binary
// format (pgx asks for it for the types it knows).
func binaryResults(fields []pgconn.FieldDescription) error {
	for _, f := range fields {
		switch f.DataTypeOID {
		case pgtype.NumericOID, pgtype.TimestamptzOID, pgtype.BoolOID:
			if f.Format != pgtype.BinaryFormatCode {
				return fmt.Errorf("%w: column %s in text format", errRaw, f.Name)
			}
		}
	}
	return nil
}

// differences lists "name stored → incoming" for each field that differs,
// the human half of a conflict record.
type differences []string

func (d *differences) add(name, stored, incoming string) {
	if stored != incoming {
		*d = append(*d, fmt.Sprintf("%s %s → %s", name, orNull(stored), orNull(incoming)))
	}
}

func (d differences) String() string { return strings.Join(d, ", ") }

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

// conflictRow is the ops.rejected_rows entry for a conflict: the stored
// version kept, the incoming one refused, both whole.
func conflictRow(exchange, symbol, dataType, what string, diff differences, stored, incoming any, extra map[string]any) ops.RejectedRow {
	p := map[string]any{"stored": stored, "incoming": incoming}
	for k, v := range extra {
		p[k] = v
	}
	payload, err := json.Marshal(p)
	if err != nil {
		payload = fmt.Appendf(nil, "%+v", p)
	}
	return ops.RejectedRow{Exchange: exchange, Symbol: symbol, DataType: dataType, Source: "database", Code: ops.CodeConflict,
		Reason: fmt.Sprintf("%s stored with other values; kept the stored one: %s", what, diff), Payload: payload}
}
