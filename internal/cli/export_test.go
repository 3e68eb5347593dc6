package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

// seedExport stores candles and trades through the loader: yesterday's
// and today's, with digits a float would not keep.
func seedExport(t *testing.T, url string) time.Time {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	var cs []market.Candle
	for i, sym := range []market.Symbol{"BTC/USDT", "ETH/USDT", "BTC/USD"} {
		for h := range 3 {
			cs = append(cs, market.Candle{Exchange: "binance", Symbol: sym, Timeframe: market.TF1h, Time: day.Add(time.Duration(h) * time.Hour),
				Open: market.MustDecimal("61000.10"), High: market.MustDecimal("61000.123456789012"), Low: market.MustDecimal("60000"),
				Close: market.MustDecimal("60500.5"), Volume: market.MustDecimal([]string{"0.00000001", "12.50", "3"}[i]), Closed: true})
		}
	}
	// Three days back: outside --days 1.
	old := cs[0]
	old.Time = day.AddDate(0, 0, -2)
	_, err = s.Candles(ctx, append(cs, old))
	require.NoError(t, err)
	_, err = s.Trades(ctx, []market.Trade{{Exchange: "binance", Symbol: "BTC/USDT", ID: "42", Time: day.Add(1500 * time.Millisecond),
		Side: market.SideBuy, Price: market.MustDecimal("61000.10"), Amount: market.MustDecimal("0.00100")}})
	require.NoError(t, err)
	_, err = s.Markets(ctx, []market.Market{
		{Exchange: "binance", Symbol: "BTC/USDT", ID: "BTCUSDT", Base: "BTC", Quote: "USDT", Active: true},
		{Exchange: "binance", Symbol: "ETH/USDT", ID: "ETHUSDT", Base: "ETH", Quote: "USDT", Active: true},
		{Exchange: "binance", Symbol: "BTC/USD", ID: "BTCUSD", Base: "BTC", Quote: "USD", Active: true},
	})
	require.NoError(t, err)
	return day
}

func readCSV(t *testing.T, r io.Reader) [][]string {
	t.Helper()
	recs, err := csv.NewReader(r).ReadAll()
	require.NoError(t, err)
	return recs
}

// export writes what the loader stored, to stdout or a file, as CSV,
// gzipped CSV or Parquet, each read back equal.
func TestExportCommand(t *testing.T) {
	url := pgtest.MigratedDB(t)
	day := seedExport(t, url)
	ts := func(h int) string { return day.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	args := []string{"export", "--database-url", url, "--exchange", "binance", "--symbols", "*/USDT", "--timeframe", "1h", "--days", "1"}

	code, out, stderr := runCLI(t, nil, args...)
	require.Equal(t, ExitOK, code, stderr)
	want := [][]string{{"exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "closed"}}
	for _, sym := range []struct{ s, vol string }{{"BTC/USDT", "0.00000001"}, {"ETH/USDT", "12.50"}} {
		for h := range 3 {
			want = append(want, []string{"binance", sym.s, "1h", ts(h), "61000.10", "61000.123456789012", "60000", "60500.5", sym.vol, "true"})
		}
	}
	require.Equal(t, want, readCSV(t, strings.NewReader(out)))
	require.Equal(t, "exported 6 ohlcv rows of binance to stdout (csv)\n", stderr)

	dir := t.TempDir()
	gz := filepath.Join(dir, "c.csv.gz")
	code, out, stderr = runCLI(t, nil, append(args, "--file", gz)...)
	require.Equal(t, ExitOK, code, stderr)
	require.Empty(t, out)
	f, err := os.Open(gz)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, want, readCSV(t, zr))

	pq := filepath.Join(dir, "c.parquet")
	code, _, stderr = runCLI(t, nil, append(args, "--file", pq)...)
	require.Equal(t, ExitOK, code, stderr)
	type candle struct {
		Exchange  string    `parquet:"exchange"`
		Symbol    string    `parquet:"symbol"`
		Timeframe string    `parquet:"timeframe"`
		TS        time.Time `parquet:"ts,timestamp(microsecond)"`
		Open      string    `parquet:"open"`
		High      string    `parquet:"high"`
		Low       string    `parquet:"low"`
		Close     string    `parquet:"close"`
		Volume    string    `parquet:"volume"`
		Closed    bool      `parquet:"closed"`
	}
	b, err := os.ReadFile(pq)
	require.NoError(t, err)
	rows, err := parquet.Read[candle](bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	require.Len(t, rows, len(want)-1)
	for i, r := range rows {
		require.Equal(t, want[i+1], []string{r.Exchange, r.Symbol, r.Timeframe, r.TS.UTC().Format(time.RFC3339), r.Open, r.High, r.Low,
			r.Close, r.Volume, map[bool]string{true: "true", false: "false"}[r.Closed]})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file left beside the exports")

	// Trades, with --symbol (the same flag) and a range.
	code, out, stderr = runCLI(t, nil, "export", "--database-url", url, "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", "trades",
		"--from", day.Format(time.DateOnly), "--to", day.Add(time.Hour).Format(time.RFC3339), "-o", "csv")
	require.Equal(t, ExitOK, code, stderr)
	require.Equal(t, [][]string{{"exchange", "symbol", "ts", "trade_id", "price", "amount", "side"},
		{"binance", "BTC/USDT", day.Add(1500 * time.Millisecond).Format(time.RFC3339Nano), "42", "61000.10", "0.00100", "buy"}},
		readCSV(t, strings.NewReader(out)))

	missing := filepath.Join(dir, "nope", "x.csv")
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--kind", "markets"}, "--kind"},
		{[]string{"--kind", "trades", "--timeframe", "1h"}, "--timeframe"},
		{[]string{"-o", "xlsx"}, "--output"},
		{[]string{"--file", filepath.Join(dir, "x.parquet.gz")}, "--file"},
		{[]string{"--file", missing}, "--file"},
		{[]string{"--symbols", "DOGE/*"}, "--symbols"},
		{[]string{"--days", "1", "--to", "2024-01-01"}, "--days"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"export", "--database-url", url, "--exchange", "binance"}, c.args...)...)
		require.Equal(t, ExitUsage, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.flag, c.args)
	}
	require.NoFileExists(t, missing)
}
