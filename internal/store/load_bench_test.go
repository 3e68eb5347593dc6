package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

// Benchmark rows: 10 symbols x 100,000 minutes, written only into the
// benchmark's throwaway databases.
const (
	benchSymbols = 10
	benchMinutes = 100_000
	benchBatch   = 50_000
)

type benchRow struct {
	sym                       string
	ts                        time.Time
	open, high, low, cls, vol string
}

func benchRows() []benchRow {
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]benchRow, 0, benchSymbols*benchMinutes)
	for s := range benchSymbols {
		base := 1000 * (s + 1)
		for m := range benchMinutes {
			p := base + (m*7919)%500
			rows = append(rows, benchRow{
				sym: fmt.Sprintf("SYM%d/USDT", s), ts: start.Add(time.Duration(m) * time.Minute),
				open: fmt.Sprintf("%d.%02d000000", p, m%100), high: fmt.Sprintf("%d.50000000", p+3),
				low: fmt.Sprintf("%d.25000000", p-2), cls: fmt.Sprintf("%d.%02d000000", p+1, (m+3)%100),
				vol: fmt.Sprintf("%d.%05d", m%900, m%99991),
			})
		}
	}
	return rows
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// BenchmarkLoad1M compares our loader with psql's \copy on the same 1M
// candles, in one run so that the ratios hold on a noisy machine:
// (a) psql \copy of CSV into an empty candles table, the baseline;
// (b) Store.Candles into an empty table; (c) the same rows again, all
// duplicates; (d) `mdingest import` of the CSV files end to end.
func BenchmarkLoad1M(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatalf("psql is needed for the baseline: %v", err)
	}
	rows := benchRows()
	n := len(rows)
	dir := b.TempDir()

	// CSV for \copy (the table's columns) and per-symbol files for import.
	copyCSV := filepath.Join(dir, "copy.csv")
	f, err := os.Create(copyCSV)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	var importFiles []string
	var fw *bufio.Writer
	var ff *os.File
	for i, r := range rows {
		fmt.Fprintf(w, "binance,%s,1m,%s,%s,%s,%s,%s,%s,t\n", r.sym, r.ts.Format(time.RFC3339), r.open, r.high, r.low, r.cls, r.vol)
		if i%benchMinutes == 0 {
			if fw != nil {
				require.NoError(b, fw.Flush())
				require.NoError(b, ff.Close())
			}
			name := filepath.Join(dir, strings.ReplaceAll(r.sym, "/", "")+"-1m.csv")
			importFiles = append(importFiles, name)
			ff, err = os.Create(name)
			require.NoError(b, err)
			fw = bufio.NewWriterSize(ff, 1<<20)
		}
		ms := r.ts.UnixMilli()
		fmt.Fprintf(fw, "%d,%s,%s,%s,%s,%s,%d,0,1,0,0,0\n", ms, r.open, r.high, r.low, r.cls, r.vol, ms+59_999)
	}
	require.NoError(b, fw.Flush())
	require.NoError(b, ff.Close())
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())

	candles := make([]market.Candle, n)
	for i, r := range rows {
		candles[i] = market.Candle{Exchange: "binance", Symbol: market.Symbol(r.sym), Timeframe: market.TF1m, Time: r.ts,
			Open: market.MustDecimal(r.open), High: market.MustDecimal(r.high), Low: market.MustDecimal(r.low),
			Close: market.MustDecimal(r.cls), Volume: market.MustDecimal(r.vol), Closed: true}
	}

	bin := filepath.Join(dir, "mdingest")
	build := exec.Command("go", "build", "-o", bin, "github.com/mdingest/mdingest/cmd/mdingest")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())

	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		// (a) the baseline
		urlA := pgtest.MigratedDB(b)
		start := time.Now()
		out, err := exec.Command("psql", urlA, "-v", "ON_ERROR_STOP=1", "-c",
			`\copy market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed) FROM '`+copyCSV+`' CSV`).CombinedOutput()
		require.NoError(b, err, string(out))
		a := rate(n, time.Since(start))

		// (b) and (c)
		urlB := pgtest.MigratedDB(b)
		st, err := store.Open(ctx, urlB, store.Options{})
		require.NoError(b, err)
		loadAll := func() (store.Result, time.Duration) {
			var total store.Result
			start := time.Now()
			for i := 0; i < n; i += benchBatch {
				r, err := st.Candles(ctx, candles[i:min(i+benchBatch, n)])
				require.NoError(b, err)
				total = total.Add(r)
			}
			return total, time.Since(start)
		}
		rb, db := loadAll()
		require.Equal(b, n, rb.Inserted)
		rc, dc := loadAll()
		require.Equal(b, n, rc.Duplicates)
		st.Close()

		// (d) end to end, one import per symbol file
		urlD := pgtest.MigratedDB(b)
		start = time.Now()
		for i, file := range importFiles {
			cmd := exec.Command(bin, "import", "--database-url", urlD, "--exchange", "binance",
				"--symbol", fmt.Sprintf("SYM%d/USDT", i), file)
			out, err := cmd.CombinedOutput()
			require.NoError(b, err, string(out))
		}
		d := rate(n, time.Since(start))

		vb, vc := rate(n, db), rate(n, dc)
		fmt.Printf("load of %d candles, GOMAXPROCS=%d:\n", n, runtime.GOMAXPROCS(0))
		fmt.Printf("  (a) psql \\copy CSV, baseline     %9.0f rows/s\n", a)
		fmt.Printf("  (b) loader, empty table          %9.0f rows/s  b/a = %.2f\n", vb, vb/a)
		fmt.Printf("  (c) loader, all duplicates       %9.0f rows/s  c/a = %.2f\n", vc, vc/a)
		fmt.Printf("  (d) mdingest import, end to end  %9.0f rows/s  d/a = %.2f\n", d, d/a)
		b.ReportMetric(vb/a, "b/a")
		b.ReportMetric(vc/a, "c/a")
		b.ReportMetric(d/a, "d/a")
	}
}
