package candlecsv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// klines is n lines shaped as Binance's 1m kline files.
func klines(n int) []byte {
	var b bytes.Buffer
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for m := range n {
		cents := 100_000 + (m*7919)%500
		p := func(c int) string { return fmt.Sprintf("%d.%02d000000", c/100, c%100) }
		ms := start + int64(m)*60_000
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%d.%05d,%d,0,1,0,0,0\n", ms, p(cents), p(cents+350), p(cents-250), p(cents-100), m%900, m%99991, ms+59_999)
	}
	return b.Bytes()
}

func BenchmarkLinesNext(b *testing.B) {
	data := klines(100_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ls := newLines(bytes.NewReader(data))
		for {
			if _, _, err := ls.next(); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data := klines(100_000)
	o := Options{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: market.TF1m, Now: time.Now()}
	var recs [][]string
	ls := newLines(bytes.NewReader(data))
	for {
		rec, _, err := ls.next()
		if err != nil {
			break
		}
		recs = append(recs, append([]string(nil), rec...))
	}
	tf := time.Minute
	closedBy := o.Now.Add(-tf)
	for b.Loop() {
		for _, rec := range recs {
			if _, _, reason := parse(rec, binance, &o, tf, closedBy); reason != "" {
				b.Fatal(reason)
			}
		}
	}
}

func TestSplitCommas(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(",,,-+.0123456789\x00\x01\xff\"\r ab")
	for range 20_000 {
		line := make([]byte, r.IntN(40))
		for i := range line {
			line[i] = alphabet[r.IntN(len(alphabet))]
		}
		want := strings.Split(string(line), ",")
		rec, start := splitCommas(nil, string(line))
		got := append(rec, string(line)[start:])
		if !slices.Equal(got, want) {
			t.Fatalf("splitCommas(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestTrimSpace(t *testing.T) {
	for _, s := range []string{"", " ", "1.5", " 1.5", "1.5 ", "\t1.5\r", "\u00a01.5", "1.5\u00a0", "\u20281.5\u0085", "\x001.5", "é", "1 5"} {
		if got, want := trimSpace(s), strings.TrimSpace(s); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", s, got, want)
		}
	}
}
