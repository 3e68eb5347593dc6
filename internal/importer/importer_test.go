package importer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/importer"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

var day = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// kline writes n 1m Binance kline rows from start into dir/name.
func kline(t *testing.T, dir, name string, start time.Time, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		ms := start.Add(time.Duration(i) * time.Minute).UnixMilli()
		fmt.Fprintf(&b, "%d,100.5,101.5,99.5,100.75,12.5,%d,0,1,0,0,0\n", ms, ms+59_999)
	}
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func options(t *testing.T) importer.Options {
	t.Helper()
	c, err := quality.NewChecker(quality.DefaultConfig())
	require.NoError(t, err)
	return importer.Options{Exchange: "binance", Timeframe: market.TF1m, Checker: c}
}

// openStore opens a store on a fresh database, and the test's own pool on
// it to look at what was stored.
func openStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.MigratedDB(t)
	st, err := store.Open(context.Background(), url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st, pgtest.Pool(t, url)
}

// The exchange's own market list names a file's symbol where spelling
// would not (Binance's BCC is BCH), both for checking --symbol and for
// finding it.
func TestSymbolFromTheMarketList(t *testing.T) {
	st, db := openStore(t)
	ctx := context.Background()
	_, err := st.Markets(ctx, []market.Market{{Exchange: "binance", ID: "BCCUSDT", Symbol: "BCH/USDT", Base: "BCH", Quote: "USDT", Active: true}})
	require.NoError(t, err)
	file := kline(t, t.TempDir(), "BCCUSDT-1m-2024-01-01.csv", day, 30)

	o := options(t)
	sum, err := importer.Run(ctx, st, []string{file}, o)
	require.NoError(t, err)
	require.Equal(t, 30, sum.Inserted)
	o.Symbol = "BCH/USDT"
	sum, err = importer.Run(ctx, st, []string{file}, o)
	require.NoError(t, err)
	require.Equal(t, 30, sum.Duplicates)
	o.Symbol = "BCC/USDT"
	_, err = importer.Run(ctx, st, []string{file}, o)
	require.ErrorIs(t, err, importer.ErrMismatch, "the list says BCCUSDT is BCH/USDT")

	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM market.candles WHERE symbol = 'BCH/USDT'`).Scan(&n))
	require.Equal(t, 30, n)
}

// counting is a Loader that counts candles and holds each batch a while,
// so batches pile up if anything lets them.
type counting struct {
	importer.Loader
	rows, inFlight, most atomic.Int64
}

func (c *counting) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	c.rows.Add(int64(len(rows)))
	return store.Result{Requested: len(rows), Inserted: len(rows)}, nil
}

func (c *counting) RejectedRows(context.Context, []ops.RejectedRow) (store.Result, error) {
	return store.Result{}, nil
}

func (c *counting) QualityReports(context.Context, []ops.QualityReport) (store.Result, error) {
	return store.Result{}, nil
}

func (c *counting) MarketSymbol(context.Context, string, string) (market.Symbol, bool, error) {
	return "", false, nil
}

// Many workers and many files: every row is loaded once, and the batches
// in memory stay bounded whatever the workers.
func TestManyWorkersBoundedBatches(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 12 {
		files = append(files, kline(t, dir, fmt.Sprintf("S%dUSDT-1m-2024-01-01.csv", i), day, 1000))
	}
	l := &counting{}
	o := options(t)
	o.Workers, o.BatchSize = 16, 100
	sum, err := importer.Run(context.Background(), l, files, o)
	require.NoError(t, err)
	require.Equal(t, int64(12_000), l.rows.Load())
	require.Equal(t, 12, sum.Files)
	require.Equal(t, 12_000, sum.Inserted)
	require.LessOrEqual(t, l.most.Load(), int64(8), "loads at once are bounded by the batch buffers")
}

// failing refuses to load after a few batches.
type failing struct {
	counting
	left atomic.Int64
}

var errBroken = errors.New("database gone")

func (f *failing) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	if f.left.Add(-1) < 0 {
		return store.Result{}, errBroken
	}
	return f.counting.Candles(ctx, rows)
}

// A load error stops every reader and loader (no goroutine is left,
// goleak checks) and is returned.
func TestLoadErrorStopsAll(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 6 {
		files = append(files, kline(t, dir, fmt.Sprintf("S%dUSDT-1m-2024-01-01.csv", i), day, 2000))
	}
	l := &failing{}
	l.left.Store(5)
	o := options(t)
	o.Workers, o.BatchSize = 3, 100
	_, err := importer.Run(context.Background(), l, files, o)
	require.ErrorIs(t, err, errBroken)
}

// recorder is a backfill.Progress that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	plan   backfill.Plan
	pages  []backfill.PageEvent
	finish backfill.Summary
}

func (r *recorder) Start(p backfill.Plan) { r.plan = p }
func (r *recorder) Page(e backfill.PageEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pages = append(r.pages, e)
}
func (r *recorder) Finish(s backfill.Summary) { r.finish = s }

// Progress, as backfill shows it (a bar with rate and ETA on a terminal,
// log lines otherwise): the plan estimates the rows from the files' sizes,
// each stored batch advances it, and the end says what was done.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	files := []string{kline(t, dir, "AUSDT-1m-2024-01-01.csv", day, 3000), kline(t, dir, "BUSDT-1m-2024-01-01.csv", day, 2000)}
	rec := &recorder{}
	o := options(t)
	o.BatchSize, o.Progress = 700, rec
	_, err := importer.Run(context.Background(), &counting{}, files, o)
	require.NoError(t, err)
	require.Equal(t, 2, rec.plan.Ranges)
	require.Equal(t, "files", rec.plan.Noun)
	require.InDelta(t, 5000, int(rec.plan.Total/time.Minute), 50, "rows estimated from the first rows' size")
	lines := 0
	for _, p := range rec.pages {
		lines += p.Returned
		require.Equal(t, time.Duration(p.Returned)*time.Minute, p.Advanced)
	}
	require.Equal(t, 5000, lines)
	require.Len(t, rec.pages, 5+3)
	require.Equal(t, backfill.Summary{Ranges: 2, Finished: 2, Rows: 5000, Inserted: 5000, Elapsed: rec.finish.Elapsed}, rec.finish)
}

// ordered records the symbol of each batch it is given.
type ordered struct {
	counting
	mu   sync.Mutex
	syms []market.Symbol
}

func (o *ordered) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	o.mu.Lock()
	o.syms = append(o.syms, rows[0].Symbol)
	o.mu.Unlock()
	return o.counting.Candles(ctx, rows)
}

// Symbols read at once still reach the loaders in key order, a symbol's
// batches after those of the symbols before it (given on the command line
// in any order): the database appends to its indexes' right edge instead
// of two symbols splitting each other's pages. The loaders run at once,
// so at a symbol's start the last batches of the one before may still be
// arriving, as many as there are loaders.
func TestBatchesInKeyOrder(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, s := range []string{"CCC", "AAA", "DDD", "BBB"} {
		files = append(files, kline(t, dir, s+"USDT-1m-2024-01-01.csv", day, 2000))
	}
	l := &ordered{}
	o := options(t)
	o.Workers, o.BatchSize = 2, 100
	_, err := importer.Run(context.Background(), l, files, o)
	require.NoError(t, err)
	require.Len(t, l.syms, 80)
	for i, s := range l.syms {
		late := 0 // batches of earlier symbols after this one
		for _, e := range l.syms[i+1:] {
			if e < s {
				late++
			}
		}
		require.LessOrEqual(t, late, o.Workers+1, "batch %d (%s) came before %d batches of earlier symbols: %v", i, s, late, l.syms)
	}
}

// spans records the minutes of day each batch it is given spans.
type spans struct {
	counting
	mu  sync.Mutex
	got [][2]int
}

func (s *spans) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	s.mu.Lock()
	s.got = append(s.got, [2]int{int(rows[0].Time.Sub(day) / time.Minute), int(rows[len(rows)-1].Time.Sub(day) / time.Minute)})
	s.mu.Unlock()
	return s.counting.Candles(ctx, rows)
}

// Given the database's chunk ranges, a batch holding half its size or more
// ends where its range does, so the batches loaded at once write into
// different chunks; ranges of a few rows do not make small batches.
func TestBatchesEndWithTheChunkRange(t *testing.T) {
	file := kline(t, t.TempDir(), "AUSDT-1m-2024-01-01.csv", day.Add(3*time.Minute), 95) // minutes 3 to 97
	for _, tc := range []struct {
		rangeMinutes int64
		want         [][2]int
	}{
		{30, [][2]int{{3, 29}, {30, 59}, {60, 89}, {90, 97}}},
		{5, [][2]int{{3, 24}, {25, 44}, {45, 64}, {65, 84}, {85, 97}}},
	} {
		l := &spans{}
		o := options(t)
		o.Workers, o.BatchSize = 2, 40
		o.Range = func(t time.Time) int64 { return t.Unix() / (60 * tc.rangeMinutes) }
		sum, err := importer.Run(context.Background(), l, []string{file}, o)
		require.NoError(t, err)
		require.Equal(t, 95, sum.Inserted)
		slices.SortFunc(l.got, func(a, b [2]int) int { return a[0] - b[0] })
		require.Equal(t, tc.want, l.got, "ranges of %d minutes", tc.rangeMinutes)
	}
}

// holding is a Loader whose loads wait until released, so that the
// readers fill every batch buffer.
type holding struct {
	counting
	release chan struct{}
}

func (h *holding) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	h.inFlight.Add(1)
	select {
	case <-h.release:
	case <-ctx.Done():
		return store.Result{}, ctx.Err()
	}
	h.rows.Add(int64(len(rows)))
	return store.Result{Requested: len(rows), Inserted: len(rows)}, nil
}

// HeapBound, which the import command's memory limit rests on, holds the
// batches of an import whose loads have all stalled, with every buffer
// full of rows read from Binance lines as long as real ones (eight
// decimals, twelve fields). Were it short, the collector would run
// without end at the limit.
func TestHeapBoundHoldsTheBatches(t *testing.T) {
	const workers, batch = 2, 4000
	dir := t.TempDir()
	var files []string
	for i := range 4 {
		var b strings.Builder
		for m := range 3 * batch {
			ms := day.Add(time.Duration(m) * time.Minute).UnixMilli()
			p := 16541 + m%97
			fmt.Fprintf(&b, "%d,%d.77000000,%d.70000000,%d.39000000,%d.67000000,4364.83570000,%d,72146323.04000000,90678,2194.43780000,36282584.05780000,0\n",
				ms, p, p+4, p-33, p-12, ms+59_999)
		}
		path := filepath.Join(dir, fmt.Sprintf("S%dUSDT-1m-2024-01-01.csv", i))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
		files = append(files, path)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	l := &holding{release: make(chan struct{})}
	o := options(t)
	o.Workers, o.BatchSize = workers, batch
	done := make(chan error, 1)
	go func() {
		_, err := importer.Run(context.Background(), l, files, o)
		done <- err
	}()
	// Every loader holds a batch; the readers fill the other buffers and
	// wait for one to be free.
	require.Eventually(t, func() bool { return l.inFlight.Load() == workers+1 }, 10*time.Second, time.Millisecond)
	var held runtime.MemStats
	for range 20 {
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&held)
	}
	close(l.release)
	require.NoError(t, <-done)
	require.Equal(t, int64(4*3*batch), l.rows.Load())

	live := int64(held.HeapAlloc) - int64(before.HeapAlloc)
	bound := importer.HeapBound(workers, batch)
	t.Logf("heap held by the batches: %d bytes, bound %d", live, bound)
	require.Greater(t, live, bound/4, "the buffers were not filled: the test measures nothing")
	require.LessOrEqual(t, live, bound)
}
