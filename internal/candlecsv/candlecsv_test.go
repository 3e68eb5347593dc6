package candlecsv

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

type collect struct {
	candles []market.Candle
	rejects []Reject
}

func (c *collect) Candle(x market.Candle) error { c.candles = append(c.candles, x); return nil }
func (c *collect) Reject(r Reject) error        { c.rejects = append(c.rejects, r); return nil }

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
2024-01-01T00:02:00Z,1,0.4,0.5,1.5,10
2024-01-01T00:03:30Z,1,2,0.5,1.5,10
2024-01-01T00:04:00Z,x,2,0.5,1.5,10
2024-01-01T00:05:00Z,3,2,0.5,1.5,10
1704067560,1,2,0.5,1.5,10
2024-01-01T00:07:00Z,1,2
`
	var c collect
	require.NoError(t, Read(strings.NewReader(body), "p.csv", opts, &c))
	require.Len(t, c.candles, 2)
	require.Equal(t, time.Date(2024, 1, 1, 0, 6, 0, 0, time.UTC), c.candles[1].Time, "epoch seconds")
	var reasons []string
	for _, r := range c.rejects {
		reasons = append(reasons, r.Reason)
	}
	require.Equal(t, []string{
		"volume must be >= 0", "low > high", "ts 2024-01-01T00:03:30Z is not aligned to 1m",
		`open: invalid decimal: "x"`, "open outside [low, high]", "want at least 6 fields, got 3",
	}, reasons)
	require.Equal(t, 3, c.rejects[0].Line, "lines count the header")
	require.Equal(t, "-1", c.rejects[0].Fields[5], "the row is kept whole")
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
	f.Fuzz(func(t *testing.T, b []byte) {
		var c collect
		err := Read(bytes.NewReader(b), "fuzz.csv", opts, &c)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		for _, x := range c.candles {
			if Check(x) != "" || x.Time.IsZero() {
				t.Fatalf("accepted a bad candle %+v", x)
			}
		}
	})
}
