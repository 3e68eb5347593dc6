package candlecsv

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

type collect struct {
	candles []market.Candle
	rejects []Reject
}

func (c *collect) Candle(x market.Candle, _ int) error { c.candles = append(c.candles, x); return nil }
func (c *collect) Reject(r Reject) error               { c.rejects = append(c.rejects, r); return nil }

var opts = Options{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}

// Two rows in the layout of data.binance.vision's spot kline files.
const binanceMS = `1704067200000,42283.58000000,42298.62000000,42261.02000000,42298.61000000,35.92724000,1704067259999,1519032.28672260,1327,23.28190000,984389.22446800,0
1704067260000,42298.62000000,42320.00000000,42298.61000000,42320.00000000,21.66004000,1704067319999,916465.57669880,915,11.48591000,486053.70617650,0
`

func TestBinanceLayouts(t *testing.T) {
	for name, body := range map[string]string{
		"ms":     binanceMS,
		"us":     strings.ReplaceAll(strings.ReplaceAll(binanceMS, "1704067200000,", "1704067200000000,"), "1704067260000,", "1704067260000000,"),
		"header": "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n" + binanceMS,
	} {
		t.Run(name, func(t *testing.T) {
			var c collect
			require.NoError(t, Read(strings.NewReader(body), "f.csv", opts, &c))
			require.Empty(t, c.rejects)
			require.Len(t, c.candles, 2)
			got := c.candles[1]
			require.Equal(t, time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC), got.Time)
			require.Equal(t, "42298.62000000", got.Open.String())
			require.Equal(t, "42320.00000000", got.High.String())
			require.Equal(t, "21.66004000", got.Volume.String())
			require.True(t, got.Closed)
			require.Equal(t, market.Symbol("BTC/USDT"), got.Symbol)
		})
	}
}

func TestPlainHeaderAndRejects(t *testing.T) {
	body := `ts,open,high,low,close,volume
2024-01-01T00:00:00Z,1,2,0.5,1.5,10
2024-01-01T00:01:00Z,1,2,0.5,1.5,-1
2024-01-01T00:03:30Z,1,2,0.5,1.5,10
2024-01-01T00:04:00Z,x,2,0.5,1.5,10
1704067560,1,2,0.5,1.5,10
2024-01-01T00:07:00Z,1,2
"2024-01-01T00:08:00Z","1",2,0.5,1.5,10
2024-01-01T00:09:00Z,"1,2,0.5,1.5,10

`
	var c collect
	require.NoError(t, Read(strings.NewReader(body), "p.csv", opts, &c))
	require.Len(t, c.candles, 4, "the candle rules are the quality checks', applied by the importer")
	require.Equal(t, time.Date(2024, 1, 1, 0, 6, 0, 0, time.UTC), c.candles[2].Time, "epoch seconds")
	require.Equal(t, time.Date(2024, 1, 1, 0, 8, 0, 0, time.UTC), c.candles[3].Time, "quoted fields")
	var got []string
	for _, r := range c.rejects {
		got = append(got, r.Code+" "+r.Reason)
	}
	require.Equal(t, []string{
		"misaligned_timestamp ts 2024-01-01T00:03:30Z is not aligned to 1m",
		`decode open: invalid decimal: "x"`, "decode want at least 6 fields, got 3",
		`decode csv: extraneous or missing " in quoted-field`,
	}, got)
	require.Equal(t, 4, c.rejects[0].Line, "lines count the header")
	require.Equal(t, "10", c.rejects[0].Fields[5], "the row is kept whole")
	require.Equal(t, 9, c.rejects[3].Line)
}

func TestCloseTimeSaysTheTimeframe(t *testing.T) {
	// Two 5m candles read as 1m: each row's close_time gives it away.
	body := "1704067200000,1,2,0.5,1.5,10,1704067499999,0,1,0,0,0\n1704067500000,1,2,0.5,1.5,10,1704067799999,0,1,0,0,0\n"
	var c collect
	require.NoError(t, Read(strings.NewReader(body), "f.csv", opts, &c))
	require.Empty(t, c.candles)
	require.Len(t, c.rejects, 2)
	require.Equal(t, CodeTimeframeMismatch, c.rejects[0].Code)
	require.Equal(t, "close_time 2024-01-01T00:04:59.999Z says the candle spans 5m, not 1m", c.rejects[0].Reason)
	o := opts
	o.Timeframe = market.TF5m
	c = collect{}
	require.NoError(t, Read(strings.NewReader(body), "f.csv", o, &c))
	require.Len(t, c.candles, 2)
	us := strings.ReplaceAll(strings.ReplaceAll(body, "000,1,2", "000000,1,2"), "99999,0", "99999999,0")
	c = collect{}
	require.NoError(t, Read(strings.NewReader(us), "f.csv", o, &c))
	require.Len(t, c.candles, 2, "µs files: close_time ends a microsecond early")
}

// Issue 11 §3: a CSV truncated mid-line was imported without a word. The
// reader now refuses the last line as truncated and says so.
func TestTruncatedFile(t *testing.T) {
	body := binanceMS + "1704067320000,42320.00000000,42330.0000"
	var c collect
	err := Read(strings.NewReader(body), "cut.csv", opts, &c)
	require.ErrorIs(t, err, ErrTruncated)
	require.Len(t, c.candles, 2, "the lines before it are read")
	require.Len(t, c.rejects, 1)
	require.Equal(t, CodeDecode, c.rejects[0].Code)
	require.Contains(t, c.rejects[0].Reason, "ends mid-line")
	// A last line without a newline that parses is fine.
	c = collect{}
	require.NoError(t, Read(strings.NewReader(strings.TrimSuffix(binanceMS, "\n")), "f.csv", opts, &c))
	require.Len(t, c.candles, 2)
}

func TestLongInputCrossesBlocks(t *testing.T) {
	var b strings.Builder
	const n = 20_000 // several blocks
	for i := range n {
		ts := int64(1704067200000) + int64(i)*60_000
		fmt.Fprintf(&b, "%d,42283.58000000,42298.62000000,42261.02000000,42298.61000000,35.92724000,%d,1519032.28672260,1327,23.28190000,984389.22446800,0\r\n", ts, ts+59_999)
	}
	var c collect
	require.NoError(t, Read(iotest.HalfReader(strings.NewReader(b.String())), "big.csv", opts, &c))
	require.Empty(t, c.rejects)
	require.Len(t, c.candles, n)
	require.Equal(t, time.UnixMilli(1704067200000+(n-1)*60_000).UTC(), c.candles[n-1].Time)
	require.Equal(t, "35.92724000", c.candles[n-1].Volume.String())
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 3000 {
		ts := int64(1704067200000) + int64(i)*300_000
		fmt.Fprintf(&b, "%d,1,2,0.5,1.5,10,%d,0,1,0,0,0\n", ts, ts+299_999)
	}
	path := filepath.Join(dir, "BTCUSDT-5m-2024-01.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	s, err := Inspect(path)
	require.NoError(t, err)
	require.Equal(t, SampleRows, s.Rows)
	require.Equal(t, 5*time.Minute, s.Spacing)
	require.Equal(t, 5*time.Minute, s.Span)
	require.InDelta(t, 3000, s.EstRows, 30)

	gz := filepath.Join(dir, "k.csv.gz")
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	_, _ = gw.Write([]byte("ts,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T01:00:00Z,1,1,1,1,1\n2024-01-01T03:00:00Z,1,1,1,1,1\n"))
	require.NoError(t, gw.Close())
	require.NoError(t, os.WriteFile(gz, buf.Bytes(), 0o600))
	s, err = Inspect(gz)
	require.NoError(t, err)
	require.Equal(t, 3, s.Rows)
	require.Equal(t, time.Hour, s.Spacing)
	require.Zero(t, s.Span, "no close_time")
	require.Equal(t, int64(3), s.EstRows)
}

func TestBinanceName(t *testing.T) {
	for path, want := range map[string]Name{
		"/data/BTCUSDT-1m-2024-01.zip":       {"BTCUSDT", "1m"},
		"ETHBTC-1mo-2023-12.zip":             {"ETHBTC", "1mo"},
		"XRPUSDT-5m-2024-01-01.csv.gz":       {"XRPUSDT", "5m"},
		"BTCUSDT-1h-2024-01-01.zip.CHECKSUM": {"BTCUSDT", "1h"},
		"1000SATSUSDT-15m-2024-03-04.csv":    {"1000SATSUSDT", "15m"},
		"SYM0USDT-1m.csv":                    {"SYM0USDT", "1m"},
	} {
		got, ok := BinanceName(path)
		require.True(t, ok, path)
		require.Equal(t, want, got, path)
	}
	for _, path := range []string{"k.csv", "btcusdt-1m-2024-01.zip", "BTCUSDT-7m-2024.zip", "BTCUSDT-1m-final.csv", "BTCUSDT.csv"} {
		_, ok := BinanceName(path)
		require.False(t, ok, path)
	}
}

// A candle of year 9999 is refused for what it is: in the future. Its
// alignment used to be computed in nanoseconds since 1970, which overflow
// past 2262, and it was refused as "not aligned".
func TestFarFutureCandleIsInTheFuture(t *testing.T) {
	var c collect
	body := "ts,open,high,low,close,volume\n9999-12-31T00:00:00Z,1,2,0.5,1.5,10\n2500-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
	require.NoError(t, Read(strings.NewReader(body), "f.csv", opts, &c))
	require.Empty(t, c.candles)
	require.Len(t, c.rejects, 2)
	require.Equal(t, "ts 9999-12-31T00:00:00Z is in the future", c.rejects[0].Reason)
	require.Equal(t, "ts 2500-01-01T00:00:00Z is in the future", c.rejects[1].Reason)

	o := opts
	o.Now = time.Time{} // no clock: only the alignment is checked, without overflowing
	c = collect{}
	require.NoError(t, Read(strings.NewReader("ts,open,high,low,close,volume\n9999-12-31T00:00:30Z,1,2,0.5,1.5,10\n"), "f.csv", o, &c))
	require.Equal(t, "ts 9999-12-31T00:00:30Z is not aligned to 1m", c.rejects[0].Reason)
}

func TestOpenCandle(t *testing.T) {
	o := opts
	o.Now = time.Date(2024, 1, 1, 0, 1, 30, 0, time.UTC)
	var c collect
	require.NoError(t, Read(strings.NewReader(binanceMS), "f.csv", o, &c))
	require.True(t, c.candles[0].Closed)
	require.False(t, c.candles[1].Closed, "its minute had not ended at Now")
	for now, closed := range map[time.Time]bool{
		time.Date(2024, 1, 1, 0, 2, 0, 0, time.UTC):          true, // it ends exactly then
		time.Date(2024, 1, 1, 0, 1, 59, 999999999, time.UTC): false,
	} {
		o.Now, c = now, collect{}
		require.NoError(t, Read(strings.NewReader(binanceMS), "f.csv", o, &c))
		require.Equal(t, closed, c.candles[1].Closed, "at %s", now)
		require.Equal(t, c.candles[1].ClosedAt(now), c.candles[1].Closed)
	}
}

func TestUnknownLayout(t *testing.T) {
	var c collect
	err := Read(strings.NewReader("a,b,c\n1,2,3\n"), "x.csv", opts, &c)
	require.ErrorIs(t, err, ErrFormat)
	err = Read(strings.NewReader("1704067200000,1,2\n"), "x.csv", opts, &c)
	require.ErrorIs(t, err, ErrFormat)
}

func writeZip(t *testing.T, dir, name string) string {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(strings.TrimSuffix(name, ".zip") + ".csv")
	require.NoError(t, err)
	_, err = w.Write([]byte(binanceMS))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

func TestZipGzipAndChecksum(t *testing.T) {
	dir := t.TempDir()
	zpath := writeZip(t, dir, "BTCUSDT-1m-2024-01-01.zip")
	sum := sha256.Sum256(must(os.ReadFile(zpath)))
	require.NoError(t, os.WriteFile(zpath+".CHECKSUM", []byte(hex.EncodeToString(sum[:])+"  BTCUSDT-1m-2024-01-01.zip\n"), 0o600))
	ok, err := VerifyChecksum(zpath)
	require.NoError(t, err)
	require.True(t, ok)
	var c collect
	require.NoError(t, ReadFile(zpath, opts, &c))
	require.Len(t, c.candles, 2)

	require.NoError(t, os.WriteFile(zpath+".CHECKSUM", []byte(strings.Repeat("0", 64)+"  x.zip\n"), 0o600))
	_, err = VerifyChecksum(zpath)
	require.True(t, errors.Is(err, ErrChecksum), "%v", err)

	gpath := filepath.Join(dir, "k.csv.gz")
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write([]byte(binanceMS))
	require.NoError(t, gw.Close())
	require.NoError(t, os.WriteFile(gpath, gz.Bytes(), 0o600))
	ok, err = VerifyChecksum(gpath)
	require.NoError(t, err)
	require.False(t, ok, "no checksum file: nothing to verify")
	c = collect{}
	require.NoError(t, ReadFile(gpath, opts, &c))
	require.Len(t, c.candles, 2)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []string{"1704067200", "1704067200000", "1704067200000000", "2024-01-01", "2024-01-01 00:00:00", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00"} {
		got, err := ParseTime(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-5", "yesterday", "99999999999999999999"} {
		_, err := ParseTime(in)
		require.Error(t, err, in)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(binanceMS))
	f.Add([]byte("ts,open,high,low,close,volume\n2024-01-01,1,2,0.5,1,3\n"))
	f.Add([]byte("ts,open,high,low,close,volume\n\"2024-01-01\",1,2,0.5,1,3\r\n\n2024-01-02,1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c collect
		err := Read(bytes.NewReader(b), "fuzz.csv", opts, &c)
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		for _, x := range c.candles {
			if x.Time.IsZero() || !x.Open.Valid() || !x.High.Valid() || !x.Low.Valid() || !x.Close.Valid() || !x.Volume.Valid() {
				t.Fatalf("accepted an incomplete candle %+v", x)
			}
			if x.Time.UnixNano()%int64(time.Minute) != 0 {
				t.Fatalf("accepted a misaligned candle %+v", x)
			}
		}
		for _, r := range c.rejects {
			if r.Code == "" || r.Reason == "" {
				t.Fatalf("a reject without code or reason: %+v", r)
			}
		}
	})
}

// aligned agrees with Truncate, which measures from the zero time (a whole
// number of days before the epoch), for every timeframe and any time.
func TestAlignedIsTruncates(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tf := range market.Timeframes() {
		d := tf.Duration()
		for range 20_000 {
			ts := time.Unix(rng.Int64N(400_000_000_000)-200_000_000_000, 0).UTC() // years -4000 to 8300
			switch rng.IntN(3) {
			case 0:
				ts = ts.Truncate(d)
			case 1:
				ts = ts.Truncate(d).Add(time.Duration(rng.IntN(3)) * time.Nanosecond)
			}
			require.Equal(t, ts.Truncate(d).Equal(ts), aligned(ts, d), "%s at %s", tf, ts)
		}
	}
	require.True(t, aligned(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Minute))
}

// TestMillisecondsAgreeWithMicroseconds: a line with epoch-millisecond
// times (read on the integers) is read as the same line with the same
// times in microseconds (read as time values): the same candle, or the
// same refusal in the same words, for every timeframe.
func TestMillisecondsAgreeWithMicroseconds(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tf := range market.Timeframes() {
		o := opts
		o.Timeframe = tf
		step := tf.Duration().Milliseconds()
		for range 2_000 {
			open := 100_000_000_000 + rng.Int64N(2_000_000_000_000) // 1973 to 2036
			if rng.IntN(2) == 0 {
				open -= open % step
			}
			var end int64
			switch rng.IntN(4) {
			case 0:
				end = open + step - 1
			case 1:
				end = open + rng.Int64N(3*step) - step
			case 2:
				end = open - 1 - rng.Int64N(1_000_000)
			default:
				end = 100_000_000_000 + rng.Int64N(99_000_000_000_000) // any epoch ms
			}
			line := func(open, end int64) string {
				return fmt.Sprintf("%d,1.5,2,1,1.75,3,%d,0,1,0,0,0\n", open, end)
			}
			var ms, us collect
			require.NoError(t, Read(strings.NewReader(line(open, end)), "f.csv", o, &ms))
			require.NoError(t, Read(strings.NewReader(line(open*1000, end*1000)), "f.csv", o, &us))
			require.Equal(t, us.candles, ms.candles, "%s: %d, %d", tf, open, end)
			require.Equal(t, len(us.rejects), len(ms.rejects))
			for i := range us.rejects {
				require.Equal(t, us.rejects[i].Code, ms.rejects[i].Code)
				require.Equal(t, us.rejects[i].Reason, ms.rejects[i].Reason)
			}
		}
	}
}
