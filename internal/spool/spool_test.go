package spool_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/tables"
)

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 123456789, time.UTC)

func d(s string) market.Decimal { return market.MustDecimal(s) }

func candles(n, from int) []market.Candle {
	out := make([]market.Candle, n)
	for i := range out {
		out[i] = market.Candle{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m,
			Time: t0.Add(time.Duration(from+i) * time.Minute), Open: d("100.10000000"), High: d("101"), Low: d("-0.000001"),
			Close: d("1.65E8"), Volume: d("3.0"), Closed: i%2 == 0}
	}
	return out
}

func open(t *testing.T, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// next peeks and acks one batch.
func next(t *testing.T, s *spool.Spool) (string, any) {
	t.Helper()
	table, rows, ok, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	require.True(t, ok, "spool empty")
	require.NoError(t, s.Ack())
	return table, rows
}

// metric sums the samples of a gauge or counter family.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return v
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	return m
}

// everyRowType holds one batch of every row type with every field set.
func everyRowType() map[string]any {
	id := uuid.MustParse("0190a0b0-c0d0-7e0f-8000-000000000001")
	return map[string]any{
		"symbols": []market.Market{{Exchange: "kraken", ID: "XXBTZUSD", Symbol: "BTC/USD", Base: "BTC", Quote: "USD",
			BaseID: "XXBT", QuoteID: "ZUSD", Active: true, Type: "spot"}},
		"tickers": []market.Ticker{{Exchange: "binance", Symbol: "ETH/USDT", ExchangeSymbol: "ETHUSDT", Time: t0,
			Bid: d("1"), BidVolume: d("2"), Ask: d("3"), AskVolume: d("4"), Last: d("5"), Open: d("6"), High: d("7"),
			Low: d("8"), Close: d("9"), VWAP: d("10.5"), BaseVolume: d("11"), QuoteVolume: d("12.000")},
			{Exchange: "binance", Symbol: "ETH/USDT", Time: t0, Last: d("5")}}, // absent decimals stay absent
		"order_books": []market.OrderBook{{Exchange: "okx", Symbol: "BTC/USDT", ExchangeSymbol: "BTC-USDT", Time: t0, Nonce: 42,
			Bids: []market.Level{{Price: d("100.0"), Amount: d("0.5")}, {Price: d("99"), Amount: d("1")}},
			Asks: []market.Level{{Price: d("101"), Amount: d("0.25")}}}},
		"candles": candles(3, 0),
		"trades": []market.Trade{{Exchange: "bybit", Symbol: "SOL/USDT", ExchangeSymbol: "SOLUSDT", ID: "t-1", Time: t0,
			Side: market.SideSell, Price: d("150.25"), Amount: d("0.001")}},
		"quality_reports": []ops.QualityReport{{ID: id, Time: t0, Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker",
			RowsTotal: 3, RowsRejected: 1, Completeness: 0.5, Accuracy: 0.25, Consistency: 1, Timeliness: 0.75, Validity: 0.1,
			Uniqueness: 0.9, Score: 0.6, Passed: true, Issues: []byte(`[{"x":1}]`)}},
		"rejected_rows": []ops.RejectedRow{{ID: id, Time: t0, Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker",
			Source: "decode", Reason: "truncated", Payload: []byte{0, 1, 2, '{'}}},
		"job_runs": []ops.JobRun{{ID: id, Job: "tickers/binance", Exchange: "binance", Instance: "h1", Started: t0,
			Finished: t0.Add(time.Second), Outcome: "error", Rows: 7, Error: "boom"}},
		"request_metrics": []ops.RequestMetric{{ID: id, Time: t0, Exchange: "binance", Endpoint: "ticker", HTTPStatus: 429,
			Latency: 1500 * time.Microsecond, Attempt: 2, Outcome: "rate_limited", ErrorCategory: "rate_limit"}},
	}
}

func TestEveryRowTypeRoundTrips(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{})
	batches := everyRowType()
	for table, rows := range batches {
		require.NoError(t, s.Append(table, rows, 1))
	}
	require.Equal(t, len(batches), s.Pending())
	for range batches {
		table, rows := next(t, s)
		require.Equal(t, batches[table], rows, table)
	}
	require.Zero(t, s.Pending())
}

func TestUnknownRowsRefused(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{})
	require.ErrorIs(t, s.Append("x", 1, 1), spool.ErrUnknownRows, "not a slice of rows")
	require.Zero(t, s.Pending())
}

func TestReplayInOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := open(t, dir, spool.Options{SegmentBytes: 2048, Registerer: reg})
	for i := range 20 {
		require.NoError(t, s.Append("candles", candles(5, 5*i), 1))
	}
	require.Greater(t, len(segFiles(t, dir)), 3, "small segments rotate")
	require.Equal(t, float64(len(segFiles(t, dir))), metric(t, reg, "spool_segments"))
	first := segFiles(t, dir)[0]
	for i := range 20 {
		table, rows := next(t, s)
		require.Equal(t, "candles", table)
		require.Equal(t, candles(5, 5*i), rows, "batch %d", i)
		if i == 3 {
			require.NoFileExists(t, first, "a replayed segment is deleted")
		}
	}
	_, _, ok, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	require.False(t, ok)
	require.Empty(t, segFiles(t, dir))
	require.Zero(t, s.Bytes())
	require.Equal(t, 20.0, metric(t, reg, "spool_records_spooled_total"))
	require.Equal(t, 20.0, metric(t, reg, "spool_records_replayed_total"))
	require.Positive(t, metric(t, reg, "spool_bytes_high_water"))
	require.Zero(t, metric(t, reg, "spool_bytes"))

	// Appends after the spool emptied start a new segment.
	require.NoError(t, s.Append("candles", candles(1, 500), 1))
	_, rows := next(t, s)
	require.Equal(t, candles(1, 500), rows)
}

func TestPeekRepeatsUntilAck(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{})
	require.ErrorIs(t, s.Ack(), spool.ErrNoPeek)
	require.NoError(t, s.Append("candles", candles(1, 0), 1))
	require.NoError(t, s.Append("candles", candles(1, 1), 1))
	_, a, _, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	_, b, _, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.NoError(t, s.Ack())
	_, c := next(t, s)
	require.Equal(t, candles(1, 1), c)
}

func TestReopenReplaysWhatIsLeft(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{SegmentBytes: 4096})
	require.NoError(t, err)
	for i := range 12 {
		require.NoError(t, s.Append("candles", candles(4, 4*i), 1))
	}
	for i := range 7 {
		_, rows := next(t, s)
		require.Equal(t, candles(4, 4*i), rows)
	}
	require.NoError(t, s.Close())

	s = open(t, dir, spool.Options{SegmentBytes: 4096})
	require.Equal(t, 5, s.Pending(), "acknowledged batches are not replayed again")
	for i := 7; i < 12; i++ {
		_, rows := next(t, s)
		require.Equal(t, candles(4, 4*i), rows)
	}
	require.Empty(t, segFiles(t, dir))
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, spool.Options{})
	_, err := spool.Open(dir, spool.Options{})
	require.ErrorIs(t, err, spool.ErrLocked)
}

func TestTornTailIsTruncated(t *testing.T) {
	// A crash mid-append leaves a prefix of the last record: cut inside
	// its length, its checksum, and its body.
	for _, cut := range []int{1, 6, 9, 40, -1} {
		t.Run("", func(t *testing.T) {
			dir := t.TempDir()
			s, err := spool.Open(dir, spool.Options{})
			require.NoError(t, err)
			require.NoError(t, s.Append("candles", candles(2, 0), 1))
			require.NoError(t, s.Append("candles", candles(2, 2), 1))
			sizeBefore := s.Bytes()
			require.NoError(t, s.Append("candles", candles(2, 4), 1))
			rec := s.Bytes() - sizeBefore
			require.NoError(t, s.Close())

			seg := segFiles(t, dir)[0]
			keep := sizeBefore + int64(cut)
			if cut < 0 {
				keep = sizeBefore + rec + int64(cut) // all but the last byte
			}
			require.NoError(t, os.Truncate(seg, keep))

			reg := prometheus.NewRegistry()
			s = open(t, dir, spool.Options{Registerer: reg})
			require.Equal(t, 2, s.Pending())
			info, err := os.Stat(seg)
			require.NoError(t, err)
			require.Equal(t, sizeBefore, info.Size(), "the torn record is cut off the file")
			require.Equal(t, float64(keep-sizeBefore), metric(t, reg, "spool_corrupt_bytes_total"))

			require.NoError(t, s.Append("candles", candles(2, 100), 1))
			for _, want := range [][]market.Candle{candles(2, 0), candles(2, 2), candles(2, 100)} {
				_, rows := next(t, s)
				require.Equal(t, want, rows)
			}
		})
	}
}

// recordOffsets appends n batches of two candles and returns where each
// record starts in the (single) segment.
func recordOffsets(t *testing.T, s *spool.Spool, n int) []int64 {
	t.Helper()
	offs := make([]int64, n)
	for i := range n {
		offs[i] = s.Bytes()
		if i == 0 {
			offs[i] = 8 // after the segment header, written with the first record
		}
		require.NoError(t, s.Append("candles", candles(2, 2*i), 1))
	}
	return offs
}

func flip(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= mask
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

// One flipped bit in one record of a segment costs that record alone: it
// is skipped and kept in corrupt/, counted, and every record after it is
// replayed (the issue's case lost 168 of 172).
func TestOneFlippedBitCostsOneRecord(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int64 // offset in the record
	}{
		{"in the body", 20},
		{"in the checksum", 5},
		{"in the length", 1}, // the next record must be found by scanning
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := spool.Open(dir, spool.Options{})
			require.NoError(t, err)
			const n, bad = 172, 4
			offs := recordOffsets(t, s, n)
			require.NoError(t, s.Close())
			seg := segFiles(t, dir)
			require.Len(t, seg, 1)
			flip(t, seg[0], offs[bad]+c.at, 0x04)

			reg := prometheus.NewRegistry()
			s = open(t, dir, spool.Options{Registerer: reg})
			require.Equal(t, n-1, s.Pending(), "only the damaged record is skipped")
			for i := range n {
				if i == bad {
					continue
				}
				_, rows := next(t, s)
				require.Equal(t, candles(2, 2*i), rows, "batch %d", i)
			}
			_, _, ok, err := s.Peek(tables.NewRows)
			require.NoError(t, err)
			require.False(t, ok)

			kept, err := spool.ListCorrupt(dir)
			require.NoError(t, err)
			require.Len(t, kept, 1, "the damaged record is kept")
			require.Equal(t, "corrupt", kept[0].Reason)
			require.Equal(t, offs[bad+1]-offs[bad], kept[0].Bytes, "exactly the damaged record")
			require.Equal(t, 1, s.Corrupt())
			require.Equal(t, 1.0, metric(t, reg, "spool_corrupt_records_total"))
			require.Equal(t, 1.0, metric(t, reg, "spool_corrupt_files"))
		})
	}
}

// A record damaged while the spool is open (the disk changed under us) is
// skipped at replay, kept, and the records after it still come.
func TestCorruptionAfterOpenIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{})
	offs := recordOffsets(t, s, 3)
	seg := segFiles(t, dir)[0]
	flip(t, seg, offs[0]+30, 0xff)

	_, rows := next(t, s)
	require.Equal(t, candles(2, 2), rows, "the damaged first record is never returned; the second is")
	_, rows = next(t, s)
	require.Equal(t, candles(2, 4), rows)
	_, _, ok, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, s.Pending())
	require.Equal(t, 1, s.Corrupt())
}

func TestBoundedSize(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	const maxBytes = 16 << 10
	s := open(t, dir, spool.Options{MaxBytes: maxBytes, SegmentBytes: 4 << 10, Registerer: reg})
	n := 0
	for ; ; n++ {
		err := s.Append("candles", candles(5, 5*n), 1)
		if err != nil {
			require.ErrorIs(t, err, spool.ErrFull)
			break
		}
		require.Less(t, n, 1000, "never full")
	}
	require.Positive(t, n)
	require.LessOrEqual(t, s.Bytes(), int64(maxBytes))
	var onDisk int64
	for _, f := range segFiles(t, dir) {
		info, err := os.Stat(f)
		require.NoError(t, err)
		onDisk += info.Size()
	}
	require.Equal(t, s.Bytes(), onDisk)
	require.LessOrEqual(t, onDisk, int64(maxBytes))
	require.Equal(t, n, s.Pending(), "a refused batch leaves nothing behind")
	require.Equal(t, 1.0, metric(t, reg, "spool_append_errors_total"))
	require.Greater(t, s.Usage(), 0.8)

	// Replaying frees room as whole segments go.
	for i := 0; s.Usage() > 0.5; i++ {
		_, rows := next(t, s)
		require.Equal(t, candles(5, 5*i), rows)
	}
	require.NoError(t, s.Append("candles", candles(5, 5*n), 1))
}

func TestQuarantineIsKeptApart(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := open(t, dir, spool.Options{Registerer: reg})
	require.NoError(t, s.Quarantine("candles", candles(3, 0), "ERROR: value out of range (SQLSTATE 22003)"))
	require.NoError(t, s.Quarantine("trades", everyRowType()["trades"], ""))
	require.Zero(t, s.Pending(), "quarantined rows are not replayed")
	require.Equal(t, 2, s.Quarantined())
	require.Equal(t, 2.0, metric(t, reg, "spool_quarantined_batches"))

	list, err := spool.ListQuarantine(dir)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []string{"candles"}, list[0].Tables)
	require.Equal(t, 3, list[0].Rows)
	require.Equal(t, 1, list[0].Batches)
	require.Equal(t, "ERROR: value out of range (SQLSTATE 22003)", list[0].Reason)
	require.Equal(t, []string{"trades"}, list[1].Tables)
}

// Replay writes every quarantined batch and deletes what was written; a
// batch refused again stays, and an unreachable database stops the replay
// with nothing lost.
func TestReplayQuarantine(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{})
	for i := range 4 {
		require.NoError(t, s.Quarantine("candles", candles(2, 2*i), "unexpected EOF"))
	}
	var got []any
	sum, err := spool.ReplayQuarantine(dir, tables.NewRows, func(table string, rows any) (bool, error) {
		require.Equal(t, "candles", table)
		if reflect.DeepEqual(rows, candles(2, 2)) {
			return true, nil // refused again
		}
		if len(got) == 2 {
			return false, errors.New("database unreachable")
		}
		got = append(got, rows)
		return false, nil
	})
	require.ErrorContains(t, err, "database unreachable")
	require.Equal(t, []any{candles(2, 0), candles(2, 4)}, got)
	require.Equal(t, 2, sum.Batches)
	require.Equal(t, 4, sum.Rows)
	require.Equal(t, 1, sum.Refused)
	left, err := spool.ListQuarantine(dir)
	require.NoError(t, err)
	require.Len(t, left, 2, "the refused batch and the one not tried stay")
	require.Equal(t, 2, s.Quarantined())

	sum, err = spool.ReplayQuarantine(dir, tables.NewRows, func(string, any) (bool, error) { return false, nil })
	require.NoError(t, err)
	require.Equal(t, 2, sum.Batches)
	require.Equal(t, 2, sum.Removed)
	require.Zero(t, s.Quarantined())
	entries, err := os.ReadDir(filepath.Join(dir, spool.QuarantineDir))
	require.NoError(t, err)
	require.Empty(t, entries, "the reasons go with their batches")
}

// Older versions kept the quarantine as a spool of several batches per
// segment; replay reads those too, and keeps only what is refused again.
func TestReplayQuarantineOfEarlierVersions(t *testing.T) {
	dir := t.TempDir()
	legacy := open(t, filepath.Join(dir, spool.QuarantineDir), spool.Options{})
	for i := range 3 {
		require.NoError(t, legacy.Append("candles", candles(2, 2*i), 1))
	}
	require.NoError(t, legacy.Close())
	list, err := spool.ListQuarantine(dir)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 3, list[0].Batches)
	require.Equal(t, 6, list[0].Rows)

	sum, err := spool.ReplayQuarantine(dir, tables.NewRows, func(_ string, rows any) (bool, error) {
		return reflect.DeepEqual(rows, candles(2, 2)), nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Batches)
	require.Equal(t, 1, sum.Refused)
	list, err = spool.ListQuarantine(dir)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 1, list[0].Batches, "only the refused batch is left")
}

func TestDefaultDirPerDatabaseAndInstance(t *testing.T) {
	a := spool.DefaultDir("postgres://u:secret@db:5432/x?sslmode=disable", "host-1")
	b := spool.DefaultDir("postgres://u:other@db:5432/x", "host-1")
	require.Equal(t, a, b, "the password and options do not name the database")
	require.NotContains(t, a, "secret")
	require.NotEqual(t, a, spool.DefaultDir("postgres://u:secret@db:5432/y", "host-1"))
	require.NotEqual(t, a, spool.DefaultDir("postgres://u:secret@db:5432/x", "host-2"))
	require.Equal(t, "spool", filepath.Base(filepath.Dir(spool.DefaultDir("x", "../../etc"))), "the instance stays one path element")
}

// The limit keeps room free below the bound, or, at a stop, lets rows that
// fit nowhere else go past it.
func TestAppendLimit(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{MaxBytes: 8 << 10, SegmentBytes: 4 << 10})
	n := 0
	for ; s.Append("candles", candles(5, 5*n), 0.5) == nil; n++ {
		require.Less(t, n, 1000)
	}
	require.LessOrEqual(t, s.Usage(), 0.5)
	require.NoError(t, s.Append("candles", candles(5, 5*n), 1), "room is left above the limit")
	for n++; s.Append("candles", candles(5, 5*n), 1) == nil; n++ {
	}
	require.ErrorIs(t, s.Append("candles", candles(5, 5*n), 1), spool.ErrFull)
	require.NoError(t, s.Append("candles", candles(5, 5*n), math.Inf(1)), "no bound")
	require.Greater(t, s.Usage(), 1.0)
	require.Equal(t, n+1, s.Pending())
}

// A batch of a table this binary does not know (a newer release's) goes to
// the quarantine whole, not replayed, not lost; the batches after it come.
func TestUnknownTableGoesToQuarantine(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{})
	require.NoError(t, s.Append("futures", candles(1, 0), 1))
	require.NoError(t, s.Append("candles", candles(1, 1), 1))
	table, rows := next(t, s)
	require.Equal(t, "candles", table)
	require.Equal(t, candles(1, 1), rows)
	require.Zero(t, s.Pending())
	require.Equal(t, 1, s.Quarantined())

	sum, err := spool.ReplayQuarantine(dir, tables.NewRows, func(string, any) (bool, error) {
		t.Fatal("an unreadable batch is not written")
		return false, nil
	})
	require.NoError(t, err)
	require.Zero(t, sum.Batches)
	require.Equal(t, 1, s.Quarantined(), "kept for a release that can read it")
}
