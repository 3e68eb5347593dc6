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

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
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

// benchData is the benchmark's 1M candles in the three shapes the loaders
// take: one CSV of market.candles' columns (psql \copy and
// timescaledb-parallel-copy), ten Binance kline files (mdingest import), and
// market.Candle values (the loader called in-process).
type benchData struct {
	n           int
	copyCSV     string
	importFiles []string
	candles     []market.Candle
}

func newBenchData(b *testing.B) benchData {
	rows := benchRows()
	dir := b.TempDir()
	d := benchData{n: len(rows), copyCSV: filepath.Join(dir, "copy.csv")}
	f, err := os.Create(d.copyCSV)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
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
			d.importFiles = append(d.importFiles, name)
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

	d.candles = make([]market.Candle, d.n)
	for i, r := range rows {
		d.candles[i] = market.Candle{Exchange: "binance", Symbol: market.Symbol(r.sym), Timeframe: market.TF1m, Time: r.ts,
			Open: market.MustDecimal(r.open), High: market.MustDecimal(r.high), Low: market.MustDecimal(r.low),
			Close: market.MustDecimal(r.cls), Volume: market.MustDecimal(r.vol), Closed: true}
	}
	return d
}

// benchSettings tune both backends' clusters alike for bulk loading, as an
// operator would (and as timescaledb-tune does): durable (fsync on), with
// room for the hot chunks in shared buffers and no checkpoint mid-load.
var benchSettings = map[string]string{
	"shared_buffers":     "1GB",
	"max_wal_size":       "8GB",
	"checkpoint_timeout": "30min",
	"wal_compression":    "off",
}

// EnvParallelCopy names the timescaledb-parallel-copy binary; default
// bin/timescaledb-parallel-copy, which `make parallel-copy` builds.
const EnvParallelCopy = "MDINGEST_BENCH_PARALLEL_COPY"

func parallelCopyBin(b *testing.B) string {
	if p := os.Getenv(EnvParallelCopy); p != "" {
		return p
	}
	p := filepath.Join(moduleRoot(b), "bin", "timescaledb-parallel-copy")
	if _, err := os.Stat(p); err != nil {
		b.Fatalf("timescaledb-parallel-copy, the peer loader, is not built: run `make parallel-copy` or set %s (%v)", EnvParallelCopy, err)
	}
	return p
}

func moduleRoot(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(b, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// BenchmarkLoad1M loads the same 1M candles (10 symbols x 100,000 minutes)
// into market.candles on TimescaleDB (a hypertable) and on plain
// PostgreSQL, each a private cluster with the same settings, in one run so
// that the ratios hold on a noisy machine. Every load gets a fresh migrated
// database:
//
//	(a) psql \copy of the CSV, the baseline;
//	(p) timescaledb-parallel-copy --workers 2 of the same CSV, TimescaleDB's own loader;
//	(d) mdingest import of the 10 kline files, end to end;
//	(b) Store.Candles in-process into an empty table;
//	(c) the same rows again, all duplicates.
func BenchmarkLoad1M(b *testing.B) {
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatalf("psql is needed for the baseline: %v", err)
	}
	peer := parallelCopyBin(b)
	data := newBenchData(b)
	bin := filepath.Join(b.TempDir(), "mdingest")
	build := exec.Command("go", "build", "-o", bin, "github.com/mdingest/mdingest/cmd/mdingest")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())

	for _, backend := range []struct {
		name      string
		timescale bool
	}{{"timescaledb", true}, {"postgres", false}} {
		b.Run(backend.name, func(b *testing.B) {
			c, err := pgtest.StartCluster(pgtest.ClusterOptions{Timescale: backend.timescale, Durable: true, Settings: benchSettings})
			require.NoError(b, err)
			defer func() { require.NoError(b, c.Remove()) }()
			mode := schema.ModeOff
			if backend.timescale {
				mode = schema.ModeOn
			}
			fresh := func(name string) string {
				require.NoError(b, c.CreateDB(context.Background(), name))
				url := c.URL(name)
				m, err := schema.Open(context.Background(), url, mode, nil)
				require.NoError(b, err)
				require.NoError(b, m.Up())
				require.NoError(b, m.Close())
				return url
			}
			for i := 0; b.Loop(); i++ {
				r := loadWays(b, data, bin, peer, func(way string) string { return fresh(fmt.Sprintf("%s_%d", way, i)) })
				r.print(backend.name, data.n)
				b.ReportMetric(r.d/r.a, "d/a")
				b.ReportMetric(r.d/r.p, "d/p")
				b.ReportMetric(r.b/r.a, "b/a")
				b.ReportMetric(r.c/r.a, "c/a")
			}
		})
	}
}

// loadRates are rows/s of each way.
type loadRates struct{ a, p, d, b, c float64 }

func (r loadRates) print(backend string, n int) {
	fmt.Printf("load of %d candles into %s, GOMAXPROCS=%d:\n", n, backend, runtime.GOMAXPROCS(0))
	fmt.Printf("  (a) psql \\copy CSV, baseline                %9.0f rows/s\n", r.a)
	fmt.Printf("  (p) timescaledb-parallel-copy, 2 workers    %9.0f rows/s  p/a = %.2f\n", r.p, r.p/r.a)
	fmt.Printf("  (d) mdingest import, 10 files               %9.0f rows/s  d/a = %.2f  d/p = %.2f\n", r.d, r.d/r.a, r.d/r.p)
	fmt.Printf("  (b) loader in-process, empty table          %9.0f rows/s  b/a = %.2f\n", r.b, r.b/r.a)
	fmt.Printf("  (c) loader in-process, all duplicates       %9.0f rows/s  c/a = %.2f\n", r.c, r.c/r.a)
}

func loadWays(b *testing.B, data benchData, bin, peer string, fresh func(way string) string) loadRates {
	ctx := context.Background()
	n := data.n
	var r loadRates
	timed := func(name string, args ...string) float64 {
		start := time.Now()
		out, err := exec.Command(name, args...).CombinedOutput()
		require.NoError(b, err, string(out))
		return rate(n, time.Since(start))
	}
	count := func(url string) int {
		conn, err := pgx.Connect(ctx, url)
		require.NoError(b, err)
		defer conn.Close(ctx)
		var got int
		require.NoError(b, conn.QueryRow(ctx, "SELECT count(*) FROM market.candles").Scan(&got))
		return got
	}

	url := fresh("copy")
	r.a = timed("psql", url, "-v", "ON_ERROR_STOP=1", "-c",
		`\copy market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed) FROM '`+data.copyCSV+`' CSV`)
	require.Equal(b, n, count(url))

	url = fresh("peer")
	r.p = timed(peer, "--connection", url, "--schema", "market", "--table", "candles", "--workers", "2",
		"--columns", "exchange,symbol,timeframe,ts,open,high,low,close,volume,closed", "--file", data.copyCSV)
	require.Equal(b, n, count(url))

	url = fresh("import")
	start := time.Now()
	for i, file := range data.importFiles {
		out, err := exec.Command(bin, "import", "--database-url", url, "--exchange", "binance",
			"--symbol", fmt.Sprintf("SYM%d/USDT", i), file).CombinedOutput()
		require.NoError(b, err, string(out))
	}
	r.d = rate(n, time.Since(start))
	require.Equal(b, n, count(url))

	url = fresh("loader")
	st, err := store.Open(ctx, url, store.Options{})
	require.NoError(b, err)
	defer st.Close()
	loadAll := func() (store.Result, float64) {
		var total store.Result
		start := time.Now()
		for i := 0; i < n; i += benchBatch {
			res, err := st.Candles(ctx, data.candles[i:min(i+benchBatch, n)])
			require.NoError(b, err)
			total = total.Add(res)
		}
		return total, rate(n, time.Since(start))
	}
	var res store.Result
	res, r.b = loadAll()
	require.Equal(b, n, res.Inserted)
	res, r.c = loadAll()
	require.Equal(b, n, res.Duplicates)
	return r
}
