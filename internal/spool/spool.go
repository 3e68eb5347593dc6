// Package spool is the writer's disk buffer for database outages: batches
// the database cannot take are appended to segment files (length-prefixed,
// CRC-32C checksummed records, fsync'd before Append returns), bounded in
// total size, and handed back oldest first for replay once the database is
// back. A segment is deleted once every record in it has been replayed and
// acknowledged; a cursor file remembers how far the oldest segment has
// been replayed, so a restart resumes there (and replays at most the
// record in flight again, which the store's idempotent writes absorb).
//
// Nothing is deleted that was not replayed. A record that fails its
// checksum is skipped, its bytes kept in corrupt/, and the records after it
// are replayed. Batches the database refused for good are kept in
// quarantine/, one file per batch, until `mdingest quarantine replay`
// writes them (see quarantine.go).
//
// A Spool belongs to one process: Open locks its directory.
package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors.
var (
	ErrFull        = errors.New("spool full")
	ErrClosed      = errors.New("spool closed")
	ErrCorrupt     = errors.New("corrupt spool record")
	ErrUnknownRows = errors.New("rows of a type the spool cannot encode")
	ErrInvalid     = errors.New("invalid spool options")
	ErrLocked      = errors.New("spool directory in use by another process")
	ErrNoPeek      = errors.New("ack without a peeked record")
)

// Defaults.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 16 << 20
)

const (
	segSuffix = ".seg"
	// reasonSuffix names the file beside a quarantined batch that says
	// why the database refused it.
	reasonSuffix = ".reason"
	cursorFile   = "cursor"
	lockFile     = "LOCK"
	// QuarantineDir is the subdirectory holding batches the database
	// refused for good; the writer never replays them (they would be
	// refused again), `mdingest quarantine replay` does.
	QuarantineDir = "quarantine"
	// CorruptDir is the subdirectory keeping the bytes of records that
	// failed their checksum: <segment>-<offset>.corrupt, or .torn for an
	// append a crash cut short.
	CorruptDir = "corrupt"
)

// Options configure Open. Zero values take the defaults.
type Options struct {
	MaxBytes     int64 // all segments together; default 1 GiB
	SegmentBytes int64 // a segment is closed for appends past this; default min(16 MiB, MaxBytes/4)
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// Spool is safe for concurrent use; replay (Peek, Ack) is meant for one
// goroutine at a time.
type Spool struct {
	dir    string
	opts   Options
	logger *slog.Logger
	m      *metrics
	lock   *os.File

	mu        sync.Mutex
	closed    bool
	segs      []*segment // oldest first; the last one may be active
	active    *os.File   // open for appends, nil: the next Append starts a segment
	bytes     int64      // sum of the segments' sizes
	pending   int        // records not yet acknowledged
	nextSeq   uint64
	reader    *os.File // the oldest segment, for Peek
	readerSeq uint64
	peeked    *position
	qseq      uint64 // quarantine files written by this process
}

type segment struct {
	seq     uint64
	size    int64
	read    int64 // offset of the oldest record not yet acknowledged
	records int   // sound records from read on
	// skip maps the start of a span without a sound record (set aside in
	// corrupt/) to the offset after it.
	skip map[int64]int64
}

// position is a peeked record: its segment and the offset after it.
type position struct {
	seq  uint64
	next int64
	kind string // table, for metrics
}

// Open opens (creating it if needed) the spool in dir, checks every
// segment and truncates a torn or corrupt tail.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = min(DefaultSegmentBytes, max(opts.MaxBytes/4, 4096))
	}
	if dir == "" || opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("%w: dir %q, max bytes %d, segment bytes %d", ErrInvalid, dir, opts.MaxBytes, opts.SegmentBytes)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer, dir)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	s := &Spool{dir: dir, opts: opts, logger: logger.With("component", "spool", "dir", dir), m: m, lock: lock}
	if err := s.recover(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	s.updateGauges()
	if s.pending > 0 {
		s.logger.Info("spool holds batches from an earlier run", "records", s.pending, "bytes", s.bytes, "segments", len(s.segs))
	}
	return s, nil
}

// recover scans the directory: deletes segments already replayed, checks
// every record's checksum, and truncates a segment at its first bad record.
func (s *Spool) recover() error {
	curSeq, curOff := s.readCursor()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading spool directory: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	s.nextSeq = curSeq + 1
	for _, seq := range seqs {
		s.nextSeq = max(s.nextSeq, seq+1)
		path := s.segPath(seq)
		if seq < curSeq {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("removing replayed segment: %w", err)
			}
			continue
		}
		from := int64(0)
		if seq == curSeq {
			from = curOff
		}
		seg, err := s.scan(seq, from)
		if err != nil {
			return err
		}
		if seg == nil || seg.records == 0 {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("removing replayed segment: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.pending += seg.records
	}
	return nil
}

// scan checks one segment; records before from are already replayed. It
// returns nil for a segment without a complete header (a crash while
// creating it). Spans that hold no sound record are set aside in corrupt/;
// an incomplete record at the end (a crash mid-append) is also cut off.
func (s *Spool) scan(seq uint64, from int64) (*segment, error) {
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading segment size: %w", err)
	}
	size := info.Size()
	head := make([]byte, headerSize)
	if size < headerSize {
		return nil, nil
	}
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("reading segment header: %w", err)
	}
	if string(head) != segMagic {
		// Not ours, or damaged beyond reading: set aside, never replayed.
		s.logger.Error("spool segment has a bad header, set aside", "segment", path)
		if err := os.Rename(path, path+".corrupt"); err != nil {
			return nil, fmt.Errorf("setting aside a bad segment: %w", err)
		}
		return nil, nil
	}
	starts, bad, err := walk(f, headerSize, size)
	if err != nil {
		return nil, err
	}
	seg := &segment{seq: seq, read: headerSize, skip: map[int64]int64{}}
	for _, sp := range bad {
		if sp.torn {
			s.logger.Warn("spool segment ends in a torn record, cut off", "segment", path, "offset", sp.from, "bytes", sp.to-sp.from)
			if err := s.setAside(f, seq, sp); err != nil {
				return nil, err
			}
			if err := f.Truncate(sp.from); err != nil {
				return nil, fmt.Errorf("truncating torn record: %w", err)
			}
			if err := f.Sync(); err != nil {
				return nil, fmt.Errorf("syncing truncated segment: %w", err)
			}
			size = sp.from
			continue
		}
		seg.skip[sp.from] = sp.to
		if sp.to > from { // not replayed yet: keep it, and say so
			s.logger.Error("spool record fails its checksum: skipped and set aside, the records after it are replayed",
				"segment", path, "offset", sp.from, "bytes", sp.to-sp.from, "kept_in", filepath.Join(s.dir, CorruptDir))
			if err := s.setAside(f, seq, sp); err != nil {
				return nil, err
			}
		}
	}
	seg.size = size
	from = max(from, headerSize)
	_, onRecord := seg.skip[from]
	onRecord = onRecord || from == size || slices.Contains(starts, from)
	if !onRecord {
		// The cursor is not on a record boundary: replay the segment whole;
		// writes are idempotent, so the repeat costs time, not data.
		s.logger.Warn("spool cursor not on a record, replaying its segment from the start", "segment", path, "cursor", from)
		from = headerSize
	}
	seg.read = from
	for _, o := range starts {
		if o >= from {
			seg.records++
		}
	}
	return seg, nil
}

// setAside copies a span without a sound record to corrupt/, once (a file
// already there is the same span).
func (s *Spool) setAside(r io.ReaderAt, seq uint64, sp span) error {
	reason := "corrupt"
	if sp.torn {
		reason = "torn"
	}
	dir := filepath.Join(s.dir, CorruptDir)
	path := filepath.Join(dir, fmt.Sprintf("%020d-%012d.%s", seq, sp.from, reason))
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := writeFileSync(dir, path, func(w io.Writer) error {
		_, err := io.Copy(w, io.NewSectionReader(r, sp.from, sp.to-sp.from))
		return err
	}); err != nil {
		return fmt.Errorf("keeping a corrupt spool record: %w", err)
	}
	s.m.corruptRecords.WithLabelValues(reason).Inc()
	s.m.truncated.Add(float64(sp.to - sp.from))
	return nil
}

// writeFileSync writes path whole or not at all: a temporary file, synced,
// renamed into place, the directory synced.
func writeFileSync(dir, path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

// readCursor returns the replay position saved by Ack; zero when there is
// none or it cannot be read (then everything left is replayed).
func (s *Spool) readCursor() (uint64, int64) {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil {
		return 0, 0
	}
	var seq uint64
	var off int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &seq, &off); err != nil {
		s.logger.Warn("unreadable spool cursor, replaying from the oldest segment", "err", err)
		return 0, 0
	}
	return seq, off
}

// writeCursor saves the replay position. It is not fsync'd: losing it
// replays some records again, which idempotent writes absorb.
func (s *Spool) writeCursor(seq uint64, off int64) error {
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", seq, off), 0o640); err != nil {
		return fmt.Errorf("writing spool cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("writing spool cursor: %w", err)
	}
	return nil
}

// Append writes one batch of rows for table (a slice of a market or store
// row type) and returns once it is on disk. It fails with ErrFull when the
// spool would then hold more than limit × MaxBytes: 1 for the whole bound,
// less to keep room for others, more (math.Inf(1): no bound) for rows that
// would otherwise be lost, such as those left at shutdown.
func (s *Spool) Append(table string, rows any, limit float64) error {
	rec, err := encodeRecord(table, rows)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	need := int64(len(rec))
	var last *segment
	if s.active != nil {
		last = s.segs[len(s.segs)-1]
	}
	rotate := last == nil || last.size > headerSize && last.size+need > s.opts.SegmentBytes
	if rotate {
		need += headerSize
	}
	if !math.IsInf(limit, 1) && float64(s.bytes+need) > limit*float64(s.opts.MaxBytes) {
		s.m.appendErrors.WithLabelValues("full").Inc()
		return fmt.Errorf("%w: %d of %d bytes used, batch needs %d (limit %.2f)", ErrFull, s.bytes, s.opts.MaxBytes, need, limit)
	}
	if rotate {
		if last, err = s.newSegment(); err != nil {
			s.m.appendErrors.WithLabelValues("io").Inc()
			return err
		}
	}
	if err := s.write(last, rec); err != nil {
		s.m.appendErrors.WithLabelValues("io").Inc()
		return err
	}
	s.pending++
	s.m.appended.WithLabelValues(table).Inc()
	s.updateGauges()
	return nil
}

// write appends rec to the active segment and syncs it. On failure the
// segment is cut back to its last good record and closed for appends.
func (s *Spool) write(seg *segment, rec []byte) error {
	_, err := s.active.WriteAt(rec, seg.size)
	if err == nil {
		err = s.active.Sync()
	}
	if err != nil {
		_ = s.active.Truncate(seg.size)
		_ = s.active.Close()
		s.active = nil
		return fmt.Errorf("appending to spool: %w", err)
	}
	seg.size += int64(len(rec))
	seg.records++
	s.bytes += int64(len(rec))
	return nil
}

// newSegment closes the active segment and starts the next one.
func (s *Spool) newSegment() (*segment, error) {
	if s.active != nil {
		if err := s.active.Close(); err != nil {
			return nil, fmt.Errorf("closing spool segment: %w", err)
		}
		s.active = nil
	}
	seq := s.nextSeq
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating spool segment: %w", err)
	}
	if _, err = f.Write([]byte(segMagic)); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("creating spool segment: %w", err)
	}
	s.nextSeq++
	seg := &segment{seq: seq, size: headerSize, read: headerSize, skip: map[int64]int64{}}
	s.segs = append(s.segs, seg)
	s.active = f
	s.bytes += headerSize
	s.m.segmentsCreated.Inc()
	return seg, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Peek returns the oldest batch not yet acknowledged, decoded into the
// slice rowsOf returns a pointer to for its table (tables.NewRows: a *[]T
// of the type Append was given); ok is false when the spool is empty. The
// same batch is returned until Ack. A record that fails its checksum now
// (the disk changed under us) is set aside in corrupt/ and skipped; the
// records after it are returned. A sound record this binary cannot read
// (format 1, an unknown table) goes whole to the quarantine, for a binary
// that can.
func (s *Spool) Peek(rowsOf func(table string) any) (table string, rows any, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", nil, false, ErrClosed
	}
	for s.pending > 0 && len(s.segs) > 0 {
		head := s.segs[0]
		if head.records == 0 {
			if err := s.dropHead(); err != nil {
				return "", nil, false, err
			}
			continue
		}
		if to, bad := head.skip[head.read]; bad {
			head.read = to
			continue
		}
		if s.reader == nil || s.readerSeq != head.seq {
			if err := s.openReader(head.seq); err != nil {
				return "", nil, false, err
			}
		}
		body, next, err := readRecord(s.reader, head.read, head.size)
		switch {
		case errors.Is(err, errTorn):
			if err := s.rewalk(head); err != nil {
				return "", nil, false, err
			}
			continue
		case err != nil:
			return "", nil, false, err
		}
		b, err := decodeBody(body)
		if err == nil {
			rows, err = decodeRows(b.table, b.payload, rowsOf)
		}
		if err != nil {
			// A sound record this binary cannot read: skip it alone, kept.
			if err := s.skipUnreadable(head, next, b.table, err); err != nil {
				return "", nil, false, err
			}
			continue
		}
		table = b.table
		s.peeked = &position{seq: head.seq, next: next, kind: table}
		return table, rows, true, nil
	}
	s.updateGauges()
	return "", nil, false, nil
}

// skipUnreadable moves the sound record of the head segment ending at next
// to the quarantine, whole (table may be "" when unknown), and skips it.
func (s *Spool) skipUnreadable(head *segment, next int64, table string, cause error) error {
	rec := make([]byte, next-head.read)
	if _, err := s.reader.ReadAt(rec, head.read); err != nil {
		return fmt.Errorf("reading spool record: %w", err)
	}
	reason := fmt.Sprintf("this mdingest cannot read the record: %v", cause)
	if errors.Is(cause, errOldFormat) {
		reason = fmt.Sprintf("%v; `mdingest quarantine replay` of that release writes it", cause)
	}
	s.logger.Error("spool record unreadable by this binary: moved to the quarantine", "segment", s.segPath(head.seq),
		"offset", head.read, "table", table, "err", cause)
	s.qseq++
	if err := s.quarantine(table, rec, reason, s.qseq); err != nil {
		return err
	}
	head.read = next
	head.records--
	s.pending--
	return nil
}

// rewalk handles a record of the head segment that failed its checksum
// after Open: the spans without a sound record from there on are set
// aside and skipped, and the sound records after them are counted again.
func (s *Spool) rewalk(head *segment) error {
	starts, bad, err := walk(s.reader, head.read, head.size)
	if err != nil {
		return err
	}
	for _, sp := range bad {
		sp.torn = false // the segment's size is what Append made durable: a short record is damage
		s.logger.Error("spool record fails its checksum: skipped and set aside, the records after it are replayed",
			"segment", s.segPath(head.seq), "offset", sp.from, "bytes", sp.to-sp.from, "kept_in", filepath.Join(s.dir, CorruptDir))
		if err := s.setAside(s.reader, head.seq, sp); err != nil {
			return err
		}
		head.skip[sp.from] = sp.to
	}
	s.pending += len(starts) - head.records
	head.records = len(starts)
	s.updateGauges()
	return nil
}

func (s *Spool) openReader(seq uint64) error {
	if s.reader != nil {
		_ = s.reader.Close()
		s.reader = nil
	}
	f, err := os.Open(s.segPath(seq))
	if err != nil {
		return fmt.Errorf("opening spool segment: %w", err)
	}
	s.reader, s.readerSeq = f, seq
	return nil
}

// Ack marks the batch returned by the last Peek as written. A segment is
// deleted once all its batches are.
func (s *Spool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	p := s.peeked
	if p == nil || len(s.segs) == 0 || s.segs[0].seq != p.seq {
		return ErrNoPeek
	}
	s.peeked = nil
	head := s.segs[0]
	head.read = p.next
	head.records--
	s.pending--
	s.m.replayed.WithLabelValues(p.kind).Inc()
	if err := s.writeCursor(head.seq, head.read); err != nil {
		s.logger.Warn("saving spool cursor failed; a restart replays more", "err", err)
	}
	if head.records == 0 {
		if err := s.dropHead(); err != nil {
			return err
		}
	}
	s.updateGauges()
	return nil
}

// dropHead deletes the oldest segment, whose records are all replayed.
func (s *Spool) dropHead() error {
	head := s.segs[0]
	if len(s.segs) == 1 && s.active != nil {
		_ = s.active.Close()
		s.active = nil
	}
	if s.reader != nil && s.readerSeq == head.seq {
		_ = s.reader.Close()
		s.reader = nil
	}
	if err := os.Remove(s.segPath(head.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting replayed segment: %w", err)
	}
	s.segs = s.segs[1:]
	s.bytes -= head.size
	s.m.segmentsDeleted.Inc()
	s.updateGauges()
	return nil
}

// Pending returns the batches waiting for replay.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Bytes returns the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Segments returns the number of segment files.
func (s *Spool) Segments() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.segs)
}

// Usage returns Bytes as a fraction of MaxBytes (0 to 1).
func (s *Spool) Usage() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.bytes) / float64(s.opts.MaxBytes)
}

// Quarantine keeps rows the database refused for good in the quarantine
// subdirectory, one file per batch (a segment holding one record, written
// whole or not at all), with the reason beside it. Replay never reads
// them; `mdingest quarantine list|replay` does.
func (s *Spool) Quarantine(table string, rows any, reason string) error {
	rec, err := encodeRecord(table, rows)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.qseq++
	n := s.qseq
	s.mu.Unlock()
	return s.quarantine(table, rec, reason, n)
}

// quarantine writes one record as the quarantine file numbered n.
func (s *Spool) quarantine(table string, rec []byte, reason string, n uint64) error {
	dir := filepath.Join(s.dir, QuarantineDir)
	name := unsafeName.ReplaceAllString(table, "_")
	if name == "" {
		name = "unknown"
	}
	base := fmt.Sprintf("%s-%d-%06d-%s", time.Now().UTC().Format("20060102T150405.000000000Z"), os.Getpid(), n, name)
	if reason != "" {
		if err := writeFileSync(dir, filepath.Join(dir, base+reasonSuffix), func(w io.Writer) error {
			_, err := io.WriteString(w, reason+"\n")
			return err
		}); err != nil {
			return fmt.Errorf("quarantining %s: %w", table, err)
		}
	}
	if err := writeFileSync(dir, filepath.Join(dir, base+segSuffix), func(w io.Writer) error {
		if _, err := io.WriteString(w, segMagic); err != nil {
			return err
		}
		_, err := w.Write(rec)
		return err
	}); err != nil {
		return fmt.Errorf("quarantining %s: %w", table, err)
	}
	return nil
}

// Close releases the files and the directory lock.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}

func (s *Spool) updateGauges() {
	s.m.bytes.Set(float64(s.bytes))
	s.m.segments.Set(float64(len(s.segs)))
	s.m.pending.Set(float64(s.pending))
	if float64(s.bytes) > s.m.highWaterValue {
		s.m.highWaterValue = float64(s.bytes)
		s.m.highWater.Set(s.m.highWaterValue)
	}
}

// DefaultDir is where the daemon spools when store.spool_dir is unset:
// the user's cache directory (./spool without one), one subdirectory per
// database and instance, so batches are never replayed into another
// database and two instances on one host do not share a spool.
func DefaultDir(databaseURL, instance string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = "."
	} else {
		base = filepath.Join(base, "mdingest")
	}
	name := keyName(databaseURL)
	if instance != "" {
		name += "-" + unsafeName.ReplaceAllString(instance, "_")
	}
	return filepath.Join(base, "spool", name)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

var passwordKV = regexp.MustCompile(`password=\S*`)

// keyName names a database without its password: a hash of the URL's
// user, host and database.
func keyName(databaseURL string) string {
	key := passwordKV.ReplaceAllString(databaseURL, "")
	if u, err := url.Parse(databaseURL); err == nil && u.Host != "" {
		key = u.Scheme + "://" + u.User.Username() + "@" + u.Host + u.Path
	}
	sum := sha256.Sum256([]byte(key))
	return "db-" + hex.EncodeToString(sum[:6])
}
