// Package candlecsv reads candle files: Binance's public-data kline CSV
// (12 columns, no header, open time in ms or, in newer files, µs) and plain
// CSV with a `ts,open,high,low,close,volume` header, each plain, gzipped or
// zipped. It streams: memory stays flat whatever the file size.
package candlecsv

import (
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Errors.
var (
	ErrChecksum = errors.New("checksum mismatch")
	ErrFormat   = errors.New("unrecognised candle file")
)

// Options say what the rows are.
type Options struct {
	Exchange  string
	Symbol    market.Symbol
	Timeframe market.Timeframe
	Now       time.Time // candles ending after Now are stored as open
}

// Reject is a row that failed the basic checks, kept whole.
type Reject struct {
	File   string   `json:"file"`
	Line   int      `json:"line"`
	Fields []string `json:"fields"`
	Reason string   `json:"-"`
}

// Sink receives parsed rows in order.
type Sink interface {
	Candle(market.Candle) error
	Reject(Reject) error
}

// VerifyChecksum checks path against the `path.CHECKSUM` file Binance
// publishes beside each archive ("<sha256>  <name>"). It reports whether a
// checksum file was there.
func VerifyChecksum(path string) (bool, error) {
	b, err := os.ReadFile(path + ".CHECKSUM")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading checksum: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return true, fmt.Errorf("%w: %s.CHECKSUM is empty", ErrChecksum, path)
	}
	want := strings.ToLower(fields[0])
	f, err := os.Open(path)
	if err != nil {
		return true, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return true, fmt.Errorf("hashing %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return true, fmt.Errorf("%w: %s has sha256 %s, %s.CHECKSUM says %s", ErrChecksum, filepath.Base(path), got, filepath.Base(path), want)
	}
	return true, nil
}

// ReadFile parses one file (by extension: .zip, .gz or plain) into sink.
func ReadFile(path string, opts Options, sink Sink) error {
	switch {
	case strings.HasSuffix(path, ".zip"):
		zr, err := zip.OpenReader(path)
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() || !strings.HasSuffix(strings.ToLower(f.Name), ".csv") {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("opening %s in %s: %w", f.Name, path, err)
			}
			err = Read(rc, path+"!"+f.Name, opts, sink)
			rc.Close()
			if err != nil {
				return err
			}
		}
		return nil
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		defer gz.Close()
		return Read(gz, path, opts, sink)
	default:
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return Read(f, path, opts, sink)
	}
}

// column positions for one layout.
type layout struct {
	ts, open, high, low, close, volume int
	width                              int // fields per row, 0: any >= 6
}

var binance = layout{0, 1, 2, 3, 4, 5, 12}

// Read parses CSV from r. The layout is found from the first row: a header
// naming ts/open/high/low/close/volume, Binance's header, or a numeric
// 12-column Binance row.
func Read(r io.Reader, name string, opts Options, sink Sink) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	tf := opts.Timeframe.Duration()
	var lay layout
	detected := false
	line := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if err := sink.Reject(Reject{File: name, Line: line, Fields: copyOf(rec), Reason: "csv: " + pe.Err.Error()}); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if !detected {
			var header bool
			lay, header, err = detect(rec)
			if err != nil {
				return fmt.Errorf("%w %s: %v", ErrFormat, name, err)
			}
			detected = true
			if header {
				continue
			}
		}
		c, reason := parse(rec, lay, opts, tf)
		if reason != "" {
			if err := sink.Reject(Reject{File: name, Line: line, Fields: copyOf(rec), Reason: reason}); err != nil {
				return err
			}
			continue
		}
		if err := sink.Candle(c); err != nil {
			return err
		}
	}
}

func copyOf(rec []string) []string { return append([]string(nil), rec...) }

func detect(first []string) (layout, bool, error) {
	if len(first) == 0 {
		return layout{}, false, errors.New("empty first row")
	}
	if _, err := strconv.ParseInt(strings.TrimSpace(first[0]), 10, 64); err == nil {
		if len(first) == 12 {
			return binance, false, nil
		}
		return layout{}, false, fmt.Errorf("a headerless row must be Binance's 12 columns, got %d", len(first))
	}
	idx := map[string]int{}
	for i, h := range first {
		idx[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := idx["open_time"]; ok && len(first) == 12 { // Binance files with a header row
		return binance, true, nil
	}
	var l layout
	for _, col := range []struct {
		names []string
		dst   *int
	}{
		{[]string{"ts", "timestamp", "time", "date", "open_time"}, &l.ts},
		{[]string{"open"}, &l.open}, {[]string{"high"}, &l.high}, {[]string{"low"}, &l.low},
		{[]string{"close"}, &l.close}, {[]string{"volume"}, &l.volume},
	} {
		found := false
		for _, n := range col.names {
			if i, ok := idx[n]; ok {
				*col.dst, found = i, true
				break
			}
		}
		if !found {
			return layout{}, false, fmt.Errorf("header lacks a %q column (want ts,open,high,low,close,volume)", col.names[0])
		}
	}
	return l, true, nil
}

func parse(rec []string, l layout, o Options, tf time.Duration) (market.Candle, string) {
	if l.width > 0 && len(rec) != l.width {
		return market.Candle{}, fmt.Sprintf("want %d fields, got %d", l.width, len(rec))
	}
	need := max(l.ts, l.open, l.high, l.low, l.close, l.volume)
	if len(rec) <= need {
		return market.Candle{}, fmt.Sprintf("want at least %d fields, got %d", need+1, len(rec))
	}
	ts, err := ParseTime(rec[l.ts])
	if err != nil {
		return market.Candle{}, "ts: " + err.Error()
	}
	if !o.Now.IsZero() && ts.After(o.Now) {
		return market.Candle{}, fmt.Sprintf("ts %s is in the future", ts.Format(time.RFC3339))
	}
	// Truncate, not UnixNano: that overflows past 2262 and called a candle
	// of year 9999 "not aligned". Timeframes divide a day, so multiples
	// since the zero time are multiples since the epoch.
	if !ts.Truncate(tf).Equal(ts) {
		return market.Candle{}, fmt.Sprintf("ts %s is not aligned to %s", ts.Format(time.RFC3339), o.Timeframe)
	}
	c := market.Candle{Exchange: o.Exchange, Symbol: o.Symbol, Timeframe: o.Timeframe, Time: ts}
	for _, f := range []struct {
		name string
		i    int
		dst  *market.Decimal
	}{{"open", l.open, &c.Open}, {"high", l.high, &c.High}, {"low", l.low, &c.Low}, {"close", l.close, &c.Close}, {"volume", l.volume, &c.Volume}} {
		v, err := market.ParseDecimal(strings.TrimSpace(rec[f.i]))
		if err != nil {
			return market.Candle{}, f.name + ": " + err.Error()
		}
		*f.dst = v
	}
	if reason := Check(c); reason != "" {
		return market.Candle{}, reason
	}
	c.Closed = c.ClosedAt(o.Now)
	return c, ""
}

// Check applies the basic candle rules: low <= open, close <= high, prices
// positive and volume >= 0. It returns the first broken rule, or "".
func Check(c market.Candle) string {
	switch {
	case c.Low.Sign() <= 0 || c.Open.Sign() <= 0 || c.High.Sign() <= 0 || c.Close.Sign() <= 0:
		return "prices must be > 0"
	case c.Volume.Sign() < 0:
		return "volume must be >= 0"
	case c.Low.Cmp(c.High) > 0:
		return "low > high"
	case c.Open.Cmp(c.Low) < 0 || c.Open.Cmp(c.High) > 0:
		return "open outside [low, high]"
	case c.Close.Cmp(c.Low) < 0 || c.Close.Cmp(c.High) > 0:
		return "close outside [low, high]"
	}
	return ""
}

// ParseTime reads an epoch number (seconds, ms or µs by magnitude), RFC
// 3339, or "YYYY-MM-DD[ HH:MM:SS]" in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n < 0:
			return time.Time{}, fmt.Errorf("negative epoch %d", n)
		case n < 1e11: // seconds until year 5138
			return time.Unix(n, 0).UTC(), nil
		case n < 1e14: // milliseconds
			return time.UnixMilli(n).UTC(), nil
		case n < 1e17: // microseconds: Binance spot files from 2025
			return time.UnixMicro(n).UTC(), nil
		}
		return time.Time{}, fmt.Errorf("epoch %d out of range", n)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (epoch s/ms/µs, RFC 3339 or YYYY-MM-DD)", s)
}
