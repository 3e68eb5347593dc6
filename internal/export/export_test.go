package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/export"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func dec(s string) market.Decimal { return market.MustDecimal(s) }

// Digits a float would lose or change: trailing zeros, 20 significant
// digits, a satoshi.
var candles = []market.Candle{
	{Exchange: "binance", Symbol: "ETH/USDT", Timeframe: market.TF1m, Time: t0, Open: dec("3400.10"), High: dec("3401.00"),
		Low: dec("3399.5"), Close: dec("3400.1"), Volume: dec("12.34500000"), Closed: true},
	{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: t0.Add(time.Minute), Open: dec("61234.56789012345678"),
		High: dec("61300"), Low: dec("61200.00000001"), Close: dec("61250.0"), Volume: dec("0.00000001"), Closed: false},
	{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: t0, Open: dec("61000.00"), High: dec("61300.10"),
		Low: dec("60999.99"), Close: dec("61234.56789012345678"), Volume: dec("1.5"), Closed: true},
	// Outside the queries below: another timeframe, exchange, or time.
	{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1h, Time: t0, Open: dec("1"), High: dec("1"), Low: dec("1"),
		Close: dec("1"), Volume: dec("1"), Closed: true},
	{Exchange: "kraken", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: t0, Open: dec("2"), High: dec("2"), Low: dec("2"),
		Close: dec("2"), Volume: dec("2"), Closed: true},
	{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Time: t0.Add(time.Hour), Open: dec("3"), High: dec("3"),
		Low: dec("3"), Close: dec("3"), Volume: dec("3"), Closed: true},
}

var trades = []market.Trade{
	{Exchange: "binance", Symbol: "BTC/USDT", ID: "1002", Time: t0.Add(1500 * time.Millisecond), Side: market.SideSell,
		Price: dec("61000.10"), Amount: dec("0.00100000")},
	{Exchange: "binance", Symbol: "BTC/USDT", ID: "1001", Time: t0.Add(123 * time.Millisecond), Side: market.SideUnknown,
		Price: dec("61000.1"), Amount: dec("2")},
	{Exchange: "binance", Symbol: "ETH/USDT", ID: "7", Time: t0.Add(time.Second), Side: market.SideBuy,
		Price: dec("3400"), Amount: dec("0.5")},
}

var tickers = []market.Ticker{
	{Exchange: "binance", Symbol: "BTC/USDT", Time: t0, Bid: dec("61000.00"), BidVolume: dec("1.25"), Ask: dec("61000.01"),
		AskVolume: dec("0.1"), Last: dec("61000.00"), High: dec("62000"), Low: dec("60000"), BaseVolume: dec("1234.5678"),
		QuoteVolume: dec("75000000.12")}, // no open, close or vwap: NULL
}

var books = []market.OrderBook{
	{Exchange: "binance", Symbol: "BTC/USDT", Time: t0, Nonce: 987654321,
		Bids: []market.Level{{Price: dec("61000.00"), Amount: dec("0.5")}, {Price: dec("60999"), Amount: dec("3")}},
		Asks: []market.Level{{Price: dec("61000.10"), Amount: dec("0.25000")}}},
	{Exchange: "binance", Symbol: "BTC/USDT", Time: t0.Add(time.Second), // no nonce, no asks
		Bids: []market.Level{{Price: dec("61000.5"), Amount: dec("1")}}},
}

// load writes the rows through the loader, as the daemon does.
func load(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Candles(ctx, candles)
	require.NoError(t, err)
	_, err = s.Trades(ctx, trades)
	require.NoError(t, err)
	_, err = s.Tickers(ctx, tickers)
	require.NoError(t, err)
	_, err = s.OrderBooks(ctx, books)
	require.NoError(t, err)
	return s
}

// The expected exports: the input's digits, ordered by symbol and time.
var want = map[market.DataType][][]string{
	market.TypeOHLCV: {
		{"exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "closed"},
		{"binance", "BTC/USDT", "1m", "2024-03-01T00:00:00Z", "61000.00", "61300.10", "60999.99", "61234.56789012345678", "1.5", "true"},
		{"binance", "BTC/USDT", "1m", "2024-03-01T00:01:00Z", "61234.56789012345678", "61300", "61200.00000001", "61250.0", "0.00000001", "false"},
		{"binance", "ETH/USDT", "1m", "2024-03-01T00:00:00Z", "3400.10", "3401.00", "3399.5", "3400.1", "12.34500000", "true"},
	},
	market.TypeTrades: {
		{"exchange", "symbol", "ts", "trade_id", "price", "amount", "side"},
		{"binance", "BTC/USDT", "2024-03-01T00:00:00.123Z", "1001", "61000.1", "2", ""},
		{"binance", "BTC/USDT", "2024-03-01T00:00:01.5Z", "1002", "61000.10", "0.00100000", "sell"},
		{"binance", "ETH/USDT", "2024-03-01T00:00:01Z", "7", "3400", "0.5", "buy"},
	},
	market.TypeTicker: {
		{"exchange", "symbol", "ts", "bid", "bid_volume", "ask", "ask_volume", "last", "open", "high", "low", "close", "vwap", "base_volume", "quote_volume"},
		{"binance", "BTC/USDT", "2024-03-01T00:00:00Z", "61000.00", "1.25", "61000.01", "0.1", "61000.00", "", "62000", "60000", "", "", "1234.5678", "75000000.12"},
	},
	market.TypeOrderBook: {
		{"exchange", "symbol", "ts", "nonce", "best_bid", "best_bid_amount", "best_ask", "best_ask_amount"},
		{"binance", "BTC/USDT", "2024-03-01T00:00:00Z", "987654321", "61000.00", "0.5", "61000.10", "0.25000"},
		{"binance", "BTC/USDT", "2024-03-01T00:00:01Z", "", "61000.5", "1", "", ""},
	},
}

func query(kind market.DataType) store.ExportQuery {
	return store.ExportQuery{Kind: kind, Exchange: "binance", Timeframe: market.TF1m, From: t0, To: t0.Add(time.Hour)}
}

// TestExportExactOnBothBackends: what the loader stored comes back from
// CSV and from Parquet digit for digit, NULLs as NULLs, in order, filtered
// by exchange, timeframe, symbols and range.
func TestExportExactOnBothBackends(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := load(t, b.MigratedDB(t))
			ctx := context.Background()
			for kind, rows := range want {
				var out bytes.Buffer
				n, err := export.Write(ctx, s, query(kind), export.CSV, &out)
				require.NoError(t, err, kind)
				require.Equal(t, int64(len(rows)-1), n, kind)
				got, err := csv.NewReader(&out).ReadAll()
				require.NoError(t, err, kind)
				require.Equal(t, rows, got, "%s CSV", kind)

				out.Reset()
				n, err = export.Write(ctx, s, query(kind), export.Parquet, &out)
				require.NoError(t, err, kind)
				require.Equal(t, int64(len(rows)-1), n, kind)
				require.Equal(t, rows, readParquet(t, out.Bytes()), "%s Parquet", kind)
			}

			// Symbols and an open range.
			q := query(market.TypeOHLCV)
			q.Symbols, q.From, q.To = []market.Symbol{"ETH/USDT"}, time.Time{}, time.Time{}
			var out bytes.Buffer
			_, err := export.Write(ctx, s, q, export.CSV, &out)
			require.NoError(t, err)
			got, err := csv.NewReader(&out).ReadAll()
			require.NoError(t, err)
			require.Equal(t, [][]string{want[market.TypeOHLCV][0], want[market.TypeOHLCV][3]}, got)

			// Nothing selected: the header alone, and a Parquet file of no rows.
			q.Symbols = []market.Symbol{"XRP/USDT"}
			out.Reset()
			n, err := export.Write(ctx, s, q, export.CSV, &out)
			require.NoError(t, err)
			require.Zero(t, n)
			require.Equal(t, strings.Join(want[market.TypeOHLCV][0], ",")+"\n", out.String())
			out.Reset()
			_, err = export.Write(ctx, s, q, export.Parquet, &out)
			require.NoError(t, err)
			require.Equal(t, want[market.TypeOHLCV][:1], readParquet(t, out.Bytes()))
		})
	}
}

// readParquet reads a file back as a reader would: the schema's column
// names, then each value by its logical type (strings, UTC timestamps,
// booleans, integers; NULL as "").
func readParquet(t *testing.T, b []byte) [][]string {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	var header []string
	for _, c := range f.Schema().Fields() {
		header = append(header, c.Name())
	}
	out := [][]string{header}
	leaves := f.Schema().Fields()
	r := parquet.NewReader(f)
	defer r.Close()
	rows := make([]parquet.Row, 1)
	for {
		n, err := r.ReadRows(rows)
		if n == 1 {
			rec := make([]string, len(header))
			for _, v := range rows[0] {
				field := leaves[v.Column()]
				rec[v.Column()] = parquetText(t, field, v)
			}
			out = append(out, rec)
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
	}
}

func parquetText(t *testing.T, field parquet.Field, v parquet.Value) string {
	t.Helper()
	if v.IsNull() {
		require.True(t, field.Optional(), "NULL in required column %s", field.Name())
		return ""
	}
	lt := field.Type().LogicalType()
	var ltv format.LogicalTypeValue
	if lt != nil {
		ltv = lt.Value
	}
	switch l := ltv.(type) {
	case *format.TimestampType:
		require.True(t, l.IsAdjustedToUTC, field.Name())
		require.IsType(t, &format.MicroSeconds{}, l.Unit.Value, field.Name())
		return time.UnixMicro(v.Int64()).UTC().Format(time.RFC3339Nano)
	case *format.StringType:
		return string(v.ByteArray())
	}
	switch {
	case field.Type().Kind() == parquet.Boolean:
		if v.Boolean() {
			return "true"
		}
		return "false"
	case field.Type().Kind() == parquet.Int64:
		return v.String()
	}
	t.Fatalf("column %s: unexpected type %s", field.Name(), field.Type())
	return ""
}

// failingWriter takes limit bytes, then fails, as a full disk would.
type failingWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

// A write failure ends the export with the writer's error, and what it
// says names the export incomplete.
func TestExportWriteFailure(t *testing.T) {
	s := load(t, pgtest.MigratedDB(t))
	for _, f := range []export.Format{export.CSV, export.Parquet} {
		_, err := export.Write(context.Background(), s, query(market.TypeOHLCV), f, &failingWriter{limit: 10})
		require.ErrorIs(t, err, errDiskFull, f)
		require.Contains(t, err.Error(), "export incomplete", f)
	}
	_, err := export.Write(context.Background(), s, query(market.TypeOHLCV), "xlsx", io.Discard)
	require.ErrorIs(t, err, export.ErrFormat)
	_, err = export.Write(context.Background(), s, query(market.TypeMarkets), export.CSV, io.Discard)
	require.ErrorIs(t, err, store.ErrExportKind)
}

// fakeSource hands out n candle rows and notes, at its last row, how many
// bytes the writer had already been given.
type fakeSource struct {
	n       int
	out     *countingWriter
	atLast  int64
	emitted int
}

func (f *fakeSource) Export(_ context.Context, _ store.ExportQuery, fn func([]any) error) (int64, error) {
	row := []any{"binance", "BTC/USDT", "1m", t0, "61000.10", "61000.2", "60999.9", "61000.15", "0.5", true}
	for i := range f.n {
		row[3] = t0.Add(time.Duration(i) * time.Minute)
		if i == f.n-1 {
			f.atLast = f.out.n
		}
		if err := fn(row); err != nil {
			return int64(i), err
		}
		f.emitted++
	}
	return int64(f.n), nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// Rows stream: most of the output has reached the writer before the last
// row is read, in CSV and in Parquet (whose row groups are bounded), so
// memory does not grow with the range.
func TestExportStreams(t *testing.T) {
	const rows = 200_000
	for _, f := range []export.Format{export.CSV, export.Parquet} {
		out := &countingWriter{}
		src := &fakeSource{n: rows, out: out}
		n, err := export.Write(context.Background(), src, store.ExportQuery{Kind: market.TypeOHLCV}, f, out)
		require.NoError(t, err, f)
		require.Equal(t, int64(rows), n, f)
		require.Greater(t, src.atLast, out.n/2, "%s: %d of %d bytes written before the last row", f, src.atLast, out.n)
	}
}
