// Package candlecsv reads candle files: Binance's public-data kline CSV
// (12 columns, no header, open time in ms or, in newer files, µs) and plain
// CSV with a `ts,open,high,low,close,volume` header, each plain, gzipped or
// zipped. It streams: memory stays flat whatever the file size.
//
// It refuses what it cannot read (code "decode"), open times not aligned to
// the timeframe ("misaligned_timestamp") and, in Binance files, rows whose
// close_time says another timeframe ("timeframe_mismatch"). The candle
// rules themselves are the daemon's checks (internal/quality), which the
// importer runs on what this package reads.
package candlecsv

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
)

// Errors.
var (
	ErrChecksum = errors.New("checksum mismatch")
	ErrFormat   = errors.New("unrecognised candle file")
	// ErrTruncated: the file ends in the middle of a line that does not
	// parse. The lines before it are read; the last one is refused.
	ErrTruncated = errors.New("file ends mid-line")
)

// Codes of the rows this package refuses (ops.rejected_rows.code).
const (
	CodeDecode            = ops.CodeDecode
	CodeMisaligned        = quality.CheckMisalignedTimestamp
	CodeFuture            = quality.CheckFutureTime
	CodeTimeframeMismatch = "timeframe_mismatch"
)

// Options say what the rows are.
type Options struct {
	Exchange  string
	Symbol    market.Symbol
	Timeframe market.Timeframe
	Now       time.Time // candles ending after Now are stored as open
}

// Reject is a row this package refused, kept whole.
type Reject struct {
	File   string   `json:"file"`
	Line   int      `json:"line"`
	Fields []string `json:"fields"`
	Code   string   `json:"-"`
	Reason string   `json:"-"`
}

// Sink receives parsed rows in order, with their line numbers.
type Sink interface {
	Candle(c market.Candle, line int) error
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
	return eachPart(path, func(r io.Reader, name string) error { return Read(r, name, opts, sink) })
}

// eachPart calls fn with the CSV text of path: each .csv of a zip, the
// content of a .gz, or the file itself.
func eachPart(path string, fn func(r io.Reader, name string) error) error {
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
			err = fn(rc, path+"!"+f.Name)
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
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		defer gz.Close()
		return fn(gz, path)
	default:
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return fn(f, path)
	}
}

// size is the CSV text's size in bytes: the uncompressed sizes a zip
// records, the size a gzip trailer records (modulo 4 GiB), or the file's.
func size(path string) (int64, error) {
	switch {
	case strings.HasSuffix(path, ".zip"):
		zr, err := zip.OpenReader(path)
		if err != nil {
			return 0, fmt.Errorf("opening %s: %w", path, err)
		}
		defer zr.Close()
		var n int64
		for _, f := range zr.File {
			n += int64(f.UncompressedSize64)
		}
		return n, nil
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		var trailer [4]byte
		if _, err := f.ReadAt(trailer[:], mustSize(f)-4); err != nil {
			return 0, fmt.Errorf("reading %s: %w", path, err)
		}
		return int64(binary.LittleEndian.Uint32(trailer[:])), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func mustSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// SampleRows is how many rows Inspect reads.
const SampleRows = 1000

// Sample is what the first rows of a file say about all of it.
type Sample struct {
	Rows int // data rows sampled
	// Spacing is the least positive distance between consecutive open
	// times, between Prev and Next; 0 with fewer than two rows.
	Spacing    time.Duration
	Prev, Next time.Time
	// Span is the candle period the first row's close_time says (Binance
	// files), at open time SpanAt; 0 without close_time.
	Span   time.Duration
	SpanAt time.Time
	// EstRows estimates the file's data rows from the sampled rows' size.
	EstRows int64
}

var errSampled = errors.New("sampled")

// Inspect reads the first SampleRows rows of path: enough to tell its
// timeframe before anything is stored.
func Inspect(path string) (Sample, error) {
	var smp Sample
	var bytesRead int64
	err := eachPart(path, func(r io.Reader, name string) error {
		ls := newLines(r)
		var lay layout
		detected := false
		var prev time.Time
		for smp.Rows < SampleRows {
			rec, _, err := ls.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return errSampled
				}
				var le *lineError
				if errors.As(err, &le) {
					continue
				}
				return fmt.Errorf("reading %s: %w", name, err)
			}
			for _, f := range rec {
				bytesRead += int64(len(f)) + 1
			}
			if !detected {
				var header bool
				if lay, header, err = detect(rec); err != nil {
					return fmt.Errorf("%w %s: %v", ErrFormat, name, err)
				}
				detected = true
				if header {
					continue
				}
			}
			if len(rec) <= max(lay.ts, lay.closeTime) {
				continue
			}
			ts, err := ParseTime(rec[lay.ts])
			if err != nil {
				continue
			}
			smp.Rows++
			if d := ts.Sub(prev); !prev.IsZero() && d > 0 && (smp.Spacing == 0 || d < smp.Spacing) {
				smp.Spacing, smp.Prev, smp.Next = d, prev, ts
			}
			prev = ts
			if lay.closeTime >= 0 && smp.Span == 0 {
				if end, err := ParseTime(rec[lay.closeTime]); err == nil {
					smp.Span, smp.SpanAt = Span(ts, end), ts
				}
			}
		}
		return errSampled
	})
	if err != nil && !errors.Is(err, errSampled) {
		return Sample{}, err
	}
	total, err := size(path)
	if err != nil {
		return Sample{}, err
	}
	if smp.Rows > 0 && bytesRead > 0 {
		smp.EstRows = max(int64(float64(total)*float64(smp.Rows)/float64(bytesRead)), int64(smp.Rows))
	}
	return smp, nil
}

// Name is what a Binance public-data file name says:
// SYMBOL-INTERVAL-DATE.zip, e.g. BTCUSDT-1m-2024-01.zip.
type Name struct {
	Symbol   string // the exchange's market id, e.g. BTCUSDT
	Interval string // Binance's interval, e.g. 1m, 1mo
}

var binanceName = regexp.MustCompile(`^([A-Z0-9]{2,})-(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1mo)(-[0-9][0-9-]*)?$`)

// BinanceName parses path's base name as a Binance public-data name.
func BinanceName(path string) (Name, bool) {
	base := filepath.Base(path)
	for _, ext := range []string{".CHECKSUM", ".gz", ".zip", ".csv"} {
		base = strings.TrimSuffix(base, ext)
	}
	m := binanceName.FindStringSubmatch(base)
	if m == nil {
		return Name{}, false
	}
	return Name{Symbol: m[1], Interval: m[2]}, true
}

// column positions for one layout.
type layout struct {
	ts, open, high, low, close, volume int
	closeTime                          int // -1: none
	width                              int // fields per row, 0: any >= 6
}

var binance = layout{0, 1, 2, 3, 4, 5, 6, 12}

// lines splits r into records: one string per block read, each line's
// fields substrings of it, so a row costs no allocation of its own (the
// candles keep their block alive until they are let go, batch by batch).
type lines struct {
	r    io.Reader
	buf  []byte
	data string // the current block's complete lines
	pos  int
	eof  bool
	line int
	rec  []string
}

const blockSize = 256 << 10

func newLines(r io.Reader) *lines {
	return &lines{r: r, buf: make([]byte, 0, blockSize), rec: make([]string, 0, 16)}
}

// next returns the next non-empty line's fields (valid until the next
// call), whether the line ended with a newline, and io.EOF at the end.
// Fields in quotes are unquoted as encoding/csv does.
func (l *lines) next() ([]string, bool, error) {
	for {
		if l.pos >= len(l.data) {
			if err := l.fill(); err != nil {
				return nil, false, err
			}
		}
		// The line's end, then its commas eight bytes a step: a loop over
		// every byte was a sixth of an import's client CPU (its profile).
		rest := l.data[l.pos:]
		end := strings.IndexByte(rest, '\n')
		if end < 0 {
			end = len(rest) // the last line may lack its newline
		}
		quoted := strings.IndexByte(rest[:end], '"') >= 0
		var start int // of the last field
		l.rec, start = splitCommas(l.rec[:0], rest[:end])
		complete := end < len(rest)
		raw := strings.TrimSuffix(rest[:end], "\r")
		l.pos += end + 1
		l.line++
		if raw == "" {
			continue
		}
		if !quoted {
			return append(l.rec, raw[min(start, len(raw)):]), complete, nil
		}
		cr := csv.NewReader(strings.NewReader(raw))
		cr.FieldsPerRecord = -1
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return []string{raw}, complete, &lineError{pe.Err}
			}
			return []string{raw}, complete, &lineError{err}
		}
		return rec, complete, nil
	}
}

// splitCommas appends the fields of line before its last comma to rec and
// returns where the last field starts. It reads eight bytes a step: the
// comma bytes of a word are the zero bytes of word XOR ",,,,,,,,", found
// at once by the exact zero-byte test (no false hits, whatever follows).
func splitCommas(rec []string, line string) ([]string, int) {
	const low7 = 0x7F7F7F7F7F7F7F7F
	const commas = ',' * 0x0101010101010101
	start, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		x := uint64(line[i]) | uint64(line[i+1])<<8 | uint64(line[i+2])<<16 | uint64(line[i+3])<<24 |
			uint64(line[i+4])<<32 | uint64(line[i+5])<<40 | uint64(line[i+6])<<48 | uint64(line[i+7])<<56
		x ^= commas
		m := ^((x&low7 + low7) | x | low7) // 0x80 in each byte of x that is zero
		for m != 0 {
			j := i + bits.TrailingZeros64(m)/8
			rec = append(rec, line[start:j])
			start = j + 1
			m &= m - 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == ',' {
			rec = append(rec, line[start:i])
			start = i + 1
		}
	}
	return rec, start
}

// lineError is a line encoding/csv could not split.
type lineError struct{ err error }

func (e *lineError) Error() string { return "csv: " + e.err.Error() }

// fill converts the next block of complete lines, or the rest of the
// input, to a string.
func (l *lines) fill() error {
	l.data, l.pos = "", 0
	for {
		if l.eof {
			if len(l.buf) == 0 {
				return io.EOF
			}
			l.data, l.buf = string(l.buf), l.buf[:0]
			return nil
		}
		if len(l.buf) == cap(l.buf) { // a line longer than a block
			l.buf = slices.Grow(l.buf, cap(l.buf))
		}
		n, err := l.r.Read(l.buf[len(l.buf):cap(l.buf)])
		l.buf = l.buf[:len(l.buf)+n]
		if errors.Is(err, io.EOF) {
			l.eof = true
			continue
		}
		if err != nil {
			return err
		}
		if len(l.buf) < cap(l.buf)/2 {
			continue
		}
		if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
			l.data = string(l.buf[:i+1])
			l.buf = l.buf[:copy(l.buf, l.buf[i+1:])]
			return nil
		}
	}
}

// Read parses CSV from r. The layout is found from the first row: a header
// naming ts/open/high/low/close/volume, Binance's header, or a numeric
// 12-column Binance row.
func Read(r io.Reader, name string, opts Options, sink Sink) error {
	tf := opts.Timeframe.Duration()
	if tf <= 0 {
		return fmt.Errorf("%w: timeframe %q", ErrFormat, opts.Timeframe)
	}
	closedBy := opts.Now.Add(-tf) // a candle opening by then has ended by opts.Now
	ls := newLines(r)
	var lay layout
	detected := false
	refuse := func(rec []string, complete bool, code, reason string) error {
		if !complete {
			reason = "the file ends mid-line (truncated?): " + reason
		}
		if err := sink.Reject(Reject{File: name, Line: ls.line, Fields: copyOf(rec), Code: code, Reason: reason}); err != nil {
			return err
		}
		if !complete {
			return fmt.Errorf("%w: %s line %d", ErrTruncated, name, ls.line)
		}
		return nil
	}
	for {
		rec, complete, err := ls.next()
		if err != nil { // tested first: errors.As would put le on the heap for every row
			if errors.Is(err, io.EOF) {
				return nil
			}
			var le *lineError
			if errors.As(err, &le) {
				if err := refuse(rec, complete, CodeDecode, le.Error()); err != nil {
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
		c, code, reason := parse(rec, lay, &opts, tf, closedBy)
		if reason != "" {
			if err := refuse(rec, complete, code, reason); err != nil {
				return err
			}
			continue
		}
		if err := sink.Candle(c, ls.line); err != nil {
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
	l := layout{closeTime: -1}
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

func parse(rec []string, l layout, o *Options, tf time.Duration, closedBy time.Time) (market.Candle, string, string) {
	if l.width > 0 && len(rec) != l.width {
		return market.Candle{}, CodeDecode, fmt.Sprintf("want %d fields, got %d", l.width, len(rec))
	}
	need := max(l.ts, l.open, l.high, l.low, l.close, l.volume, l.closeTime)
	if len(rec) <= need {
		return market.Candle{}, CodeDecode, fmt.Sprintf("want at least %d fields, got %d", need+1, len(rec))
	}
	// Binance's files give times in epoch milliseconds: the usual case is
	// checked on the integers (time values were a fifth of a row's parse).
	openMs, isMs := epochMillis(rec[l.ts])
	var ts time.Time
	if isMs {
		ts = time.UnixMilli(openMs).UTC()
	} else {
		var err error
		if ts, err = ParseTime(rec[l.ts]); err != nil {
			return market.Candle{}, CodeDecode, "ts: " + err.Error()
		}
	}
	if !o.Now.IsZero() && ts.After(o.Now) {
		return market.Candle{}, CodeFuture, fmt.Sprintf("ts %s is in the future", ts.Format(time.RFC3339))
	}
	c := market.Candle{Exchange: o.Exchange, Symbol: o.Symbol, Timeframe: o.Timeframe, Time: ts}
	for _, f := range [...]struct {
		name string
		i    int
		dst  *market.Decimal
	}{{"open", l.open, &c.Open}, {"high", l.high, &c.High}, {"low", l.low, &c.Low}, {"close", l.close, &c.Close}, {"volume", l.volume, &c.Volume}} {
		v, err := market.ParseDecimal(trimSpace(rec[f.i]))
		if err != nil {
			return market.Candle{}, CodeDecode, f.name + ": " + err.Error()
		}
		*f.dst = v
	}
	if isMs && !alignedMillis(openMs, tf) || !isMs && !aligned(ts, tf) {
		return market.Candle{}, CodeMisaligned, fmt.Sprintf("ts %s is not aligned to %s", ts.Format(time.RFC3339), o.Timeframe)
	}
	if l.closeTime >= 0 {
		var end time.Time
		var span time.Duration
		if closeMs, ok := epochMillis(rec[l.closeTime]); isMs && ok && closeMs-openMs > -1e12 && closeMs-openMs < 1e12 {
			span = time.Duration(closeMs-openMs+1) * time.Millisecond // Span, exact in whole ms
			if span != tf {
				end = time.UnixMilli(closeMs).UTC() // for the message
			}
		} else {
			var err error
			if end, err = ParseTime(rec[l.closeTime]); err != nil {
				return market.Candle{}, CodeDecode, "close_time: " + err.Error()
			}
			span = Span(ts, end)
		}
		if span <= 0 {
			return market.Candle{}, CodeDecode, fmt.Sprintf("close_time %s is not after the open time %s",
				end.Format(time.RFC3339Nano), ts.Format(time.RFC3339))
		}
		if span != tf {
			return market.Candle{}, CodeTimeframeMismatch, fmt.Sprintf("close_time %s says the candle spans %s, not %s",
				end.Format(time.RFC3339Nano), FormatSpan(span), o.Timeframe)
		}
	}
	c.Closed = !ts.After(closedBy) // c.ClosedAt(o.Now), without an addition per row
	return c, "", ""
}

// trimSpace is strings.TrimSpace, with the call spared for the usual field
// (no space at either end): it was a seventh of a row's parse.
func trimSpace(s string) string {
	if len(s) == 0 || s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

// aligned reports whether ts is a multiple of tf since the epoch. Not by
// UnixNano: that overflows past 2262 and called a candle of year 9999 "not
// aligned"; in whole seconds where tf is, as every timeframe is, rather
// than by Truncate, which costs a tenth of a row's parse.
func aligned(ts time.Time, tf time.Duration) bool {
	if tf%time.Second != 0 || (24*time.Hour)%tf != 0 {
		return ts.Truncate(tf).Equal(ts) // as before; no timeframe comes here
	}
	return ts.Nanosecond() == 0 && ts.Unix()%int64(tf/time.Second) == 0
}

// alignedMillis is aligned for the time ms epoch milliseconds (ms > 0).
func alignedMillis(ms int64, tf time.Duration) bool {
	if tf%time.Second != 0 || (24*time.Hour)%tf != 0 {
		return aligned(time.UnixMilli(ms).UTC(), tf)
	}
	return ms%int64(tf/time.Millisecond) == 0
}

// epochMillis is the value of s when ParseTime reads it as epoch
// milliseconds: digits alone, from 1e11 to 1e14.
func epochMillis(s string) (int64, bool) {
	n, ok := digitsValue(s)
	return n, ok && n >= 1e11 && n < 1e14
}

// Span is the period of a candle from its open time and Binance's
// close_time, the period's last millisecond (or microsecond).
func Span(open, closeTime time.Time) time.Duration {
	d := closeTime.Sub(open)
	return d.Truncate(time.Millisecond) + time.Millisecond
}

// FormatSpan writes a candle period as timeframes are written: 1m, 4h, 1d.
func FormatSpan(d time.Duration) string {
	for _, tf := range market.Timeframes() {
		if tf.Duration() == d {
			return string(tf)
		}
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// digitsValue is the value of s when it is 1 to 18 decimal digits.
func digitsValue(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	return n, true
}

// ParseTime reads an epoch number (seconds, ms or µs by magnitude), RFC
// 3339, or "YYYY-MM-DD[ HH:MM:SS]" in UTC.
func ParseTime(s string) (time.Time, error) {
	n, ok := digitsValue(s) // the usual case, without strconv's generality
	if !ok {
		s = strings.TrimSpace(s)
		v, err := strconv.ParseInt(s, 10, 64)
		n, ok = v, err == nil
	}
	if ok {
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
