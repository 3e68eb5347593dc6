package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// ErrExportKind: a kind Export does not read.
var ErrExportKind = errors.New("no export for this kind")

// ExportQuery selects stored market data: one exchange's rows of Kind
// (ohlcv, trades, ticker, or orderbook for the top of book), of Symbols
// (none: every symbol) and, for candles, Timeframe, with ts in [From, To)
// (a zero bound is open).
type ExportQuery struct {
	Kind      market.DataType
	Exchange  string
	Symbols   []market.Symbol
	Timeframe market.Timeframe
	From, To  time.Time
}

// ColumnType is what an exported column's values are.
type ColumnType int

// Column types: ColNumeric values are numeric text exactly as stored
// ("0.00012300" stays so); ColTime values are time.Time in UTC.
const (
	ColText ColumnType = iota
	ColNumeric
	ColTime
	ColBool
	ColInt
)

// ExportColumn is one column of an export.
type ExportColumn struct {
	Name     string
	Type     ColumnType
	Nullable bool
}

// exportTable is a kind's table and columns; expr reads a column (numbers
// as text, so nothing passes through a float).
type exportTable struct {
	table   string
	order   string // after exchange and symbol
	columns []ExportColumn
}

func (t exportTable) expr(c ExportColumn) string {
	switch c.Type {
	case ColNumeric:
		return c.Name + "::text"
	}
	return c.Name
}

var exportTables = map[market.DataType]exportTable{
	market.TypeOHLCV: {table: "market.candles", order: "ts", columns: []ExportColumn{
		{Name: "exchange"}, {Name: "symbol"}, {Name: "timeframe"}, {Name: "ts", Type: ColTime},
		{Name: "open", Type: ColNumeric}, {Name: "high", Type: ColNumeric}, {Name: "low", Type: ColNumeric},
		{Name: "close", Type: ColNumeric}, {Name: "volume", Type: ColNumeric}, {Name: "closed", Type: ColBool},
	}},
	market.TypeTrades: {table: "market.trades", order: "ts, trade_id", columns: []ExportColumn{
		{Name: "exchange"}, {Name: "symbol"}, {Name: "ts", Type: ColTime}, {Name: "trade_id"},
		{Name: "price", Type: ColNumeric}, {Name: "amount", Type: ColNumeric}, {Name: "side", Nullable: true},
	}},
	market.TypeTicker: {table: "market.tickers", order: "ts", columns: []ExportColumn{
		{Name: "exchange"}, {Name: "symbol"}, {Name: "ts", Type: ColTime},
		{Name: "bid", Type: ColNumeric, Nullable: true}, {Name: "bid_volume", Type: ColNumeric, Nullable: true},
		{Name: "ask", Type: ColNumeric, Nullable: true}, {Name: "ask_volume", Type: ColNumeric, Nullable: true},
		{Name: "last", Type: ColNumeric, Nullable: true}, {Name: "open", Type: ColNumeric, Nullable: true},
		{Name: "high", Type: ColNumeric, Nullable: true}, {Name: "low", Type: ColNumeric, Nullable: true},
		{Name: "close", Type: ColNumeric, Nullable: true}, {Name: "vwap", Type: ColNumeric, Nullable: true},
		{Name: "base_volume", Type: ColNumeric, Nullable: true}, {Name: "quote_volume", Type: ColNumeric, Nullable: true},
	}},
	// The top of book: the columns the order book keeps for charts, not
	// every level.
	market.TypeOrderBook: {table: "market.order_books", order: "ts", columns: []ExportColumn{
		{Name: "exchange"}, {Name: "symbol"}, {Name: "ts", Type: ColTime}, {Name: "nonce", Type: ColInt, Nullable: true},
		{Name: "best_bid", Type: ColNumeric, Nullable: true}, {Name: "best_bid_amount", Type: ColNumeric, Nullable: true},
		{Name: "best_ask", Type: ColNumeric, Nullable: true}, {Name: "best_ask_amount", Type: ColNumeric, Nullable: true},
	}},
}

// ExportColumns returns the columns Export gives for kind, in order.
func ExportColumns(kind market.DataType) ([]ExportColumn, error) {
	t, ok := exportTables[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrExportKind, kind)
	}
	return t.columns, nil
}

// exportSQL builds the query and its arguments: constant SQL, values only
// as parameters.
func exportSQL(q ExportQuery) (string, []any, error) {
	t, ok := exportTables[q.Kind]
	if !ok {
		return "", nil, fmt.Errorf("%w: %q", ErrExportKind, q.Kind)
	}
	exprs := make([]string, len(t.columns))
	for i, c := range t.columns {
		exprs[i] = t.expr(c)
	}
	args := []any{q.Exchange}
	where := []string{"exchange = $1"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Kind == market.TypeOHLCV {
		add("timeframe = $%d", string(q.Timeframe))
	}
	if len(q.Symbols) > 0 {
		syms := make([]string, len(q.Symbols))
		for i, s := range q.Symbols {
			syms[i] = string(s)
		}
		add("symbol = ANY($%d)", syms)
	}
	if !q.From.IsZero() {
		add("ts >= $%d", q.From)
	}
	if !q.To.IsZero() {
		add("ts < $%d", q.To)
	}
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY symbol, %s",
		strings.Join(exprs, ", "), t.table, strings.Join(where, " AND "), t.order)
	return sql, args, nil
}

// Export streams the rows q selects to fn, ordered by symbol and time,
// one row at a time (memory stays flat however long the range): each a
// value per ExportColumns(q.Kind) column, a string (numbers as stored),
// time.Time, bool, int64, or nil for NULL. It returns how many rows fn
// took.
func (s *Store) Export(ctx context.Context, q ExportQuery, fn func(row []any) error) (int64, error) {
	sql, args, err := exportSQL(q)
	if err != nil {
		return 0, err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("exporting %s %s: %w", q.Exchange, q.Kind, err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return n, fmt.Errorf("exporting %s %s: %w", q.Exchange, q.Kind, err)
		}
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				vals[i] = t.UTC()
			}
		}
		if err := fn(vals); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("exporting %s %s: %w", q.Exchange, q.Kind, err)
	}
	return n, nil
}
