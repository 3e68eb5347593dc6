package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The quarantine is a directory of segment files (quarantine/*.seg), one
// per refused batch (older versions kept several batches in one), each
// with a .reason file beside it. The daemon only ever adds whole files, so
// listing and replaying them needs no lock and may run beside it.

// QuarantinedFile is one file of the quarantine.
type QuarantinedFile struct {
	Path    string
	Time    time.Time // when it was written
	Batches int       // records (batches) it holds
	Rows    int
	Tables  []string
	Reason  string // why the database refused it, when known
	Bad     int    // spans that fail their checksum
}

// CorruptFile is one skipped span of a segment, kept in corrupt/.
type CorruptFile struct {
	Path   string
	Bytes  int64
	Reason string // corrupt or torn
}

// QuarantineReplay counts what ReplayQuarantine did.
type QuarantineReplay struct {
	Files   int // files read
	Batches int // batches written to the database
	Rows    int
	Refused int // batches refused again, kept in the quarantine
	Removed int // files emptied and deleted
}

// Quarantined returns the number of batch files in the quarantine.
func (s *Spool) Quarantined() int { return countFiles(filepath.Join(s.dir, QuarantineDir), segSuffix) }

// Corrupt returns the number of skipped records kept in corrupt/.
func (s *Spool) Corrupt() int { return countFiles(filepath.Join(s.dir, CorruptDir), "") }

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// countFiles counts the finished files in dir ending in suffix.
func countFiles(dir, suffix string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".tmp-") && strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}

// quarantineFiles lists the quarantine's segment files, oldest first.
func quarantineFiles(spoolDir string) ([]string, error) {
	dir := filepath.Join(spoolDir, QuarantineDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the quarantine: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".tmp-") && strings.HasSuffix(e.Name(), segSuffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// readSegmentFile returns the sound records of a segment file and the
// spans that fail their checksum.
func readSegmentFile(path string) (recs [][]byte, bad []span, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) < headerSize || string(b[:headerSize]) != segMagic {
		return nil, []span{{from: 0, to: int64(len(b))}}, nil
	}
	r := newBytesReaderAt(b)
	starts, bad, err := walk(r, headerSize, int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	for _, o := range starts {
		_, next, err := readRecord(r, o, int64(len(b)))
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, b[o:next])
	}
	return recs, bad, nil
}

type bytesReaderAt []byte

func newBytesReaderAt(b []byte) bytesReaderAt { return b }

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ListQuarantine describes the quarantine of the spool in spoolDir.
func ListQuarantine(spoolDir string) ([]QuarantinedFile, error) {
	paths, err := quarantineFiles(spoolDir)
	if err != nil {
		return nil, err
	}
	out := make([]QuarantinedFile, 0, len(paths))
	for _, p := range paths {
		q := QuarantinedFile{Path: p}
		if info, err := os.Stat(p); err == nil {
			q.Time = info.ModTime().UTC()
		}
		if b, err := os.ReadFile(strings.TrimSuffix(p, segSuffix) + reasonSuffix); err == nil {
			q.Reason = strings.TrimSpace(string(b))
		}
		recs, bad, err := readSegmentFile(p)
		if err != nil {
			return nil, err
		}
		q.Bad = len(bad)
		for _, rec := range recs {
			b, err := decodeBody(rec[frameSize:])
			if err != nil {
				q.Bad++ // format 1, or damaged: its reason says which
				continue
			}
			q.Batches++
			q.Rows += b.rows
			if !slices.Contains(q.Tables, b.table) {
				q.Tables = append(q.Tables, b.table)
			}
		}
		out = append(out, q)
	}
	return out, nil
}

// ListCorrupt describes the skipped records kept in spoolDir's corrupt/.
func ListCorrupt(spoolDir string) ([]CorruptFile, error) {
	dir := filepath.Join(spoolDir, CorruptDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []CorruptFile
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, CorruptFile{Path: filepath.Join(dir, e.Name()), Bytes: info.Size(),
			Reason: strings.TrimPrefix(filepath.Ext(e.Name()), ".")})
	}
	return out, nil
}

// ReplayQuarantine writes every quarantined batch of the spool in spoolDir
// through write, oldest first, decoded as Peek does (rowsOf). write returns refused for a batch the
// database refused again (it stays in the quarantine) and an error when
// it could not tell (the database is away): the replay stops there, and
// what was not written stays. A file is deleted once none of its batches
// is left; one a crash interrupts is replayed again, which idempotent
// writes absorb. Spans that fail their checksum go to corrupt/.
func ReplayQuarantine(spoolDir string, rowsOf func(table string) any,
	write func(table string, rows any) (refused bool, err error)) (QuarantineReplay, error) {
	var sum QuarantineReplay
	paths, err := quarantineFiles(spoolDir)
	if err != nil {
		return sum, err
	}
	for _, p := range paths {
		sum.Files++
		recs, bad, err := readSegmentFile(p)
		if err != nil {
			return sum, err
		}
		if err := keepBadSpans(spoolDir, p, bad); err != nil {
			return sum, err
		}
		var keep [][]byte
		var stopErr error
		for i, rec := range recs {
			b, err := decodeBody(rec[frameSize:])
			var rows any
			if err == nil {
				rows, err = decodeRows(b.table, b.payload, rowsOf)
			}
			if err != nil {
				keep = append(keep, rec) // another release may read it
				continue
			}
			refused, err := write(b.table, rows)
			if err != nil {
				keep = append(keep, recs[i:]...)
				stopErr = fmt.Errorf("replaying %s: %w", filepath.Base(p), err)
				break
			}
			if refused {
				sum.Refused++
				keep = append(keep, rec)
				continue
			}
			sum.Batches++
			sum.Rows += b.rows
		}
		switch {
		case len(keep) == 0:
			if err := os.Remove(p); err != nil {
				return sum, fmt.Errorf("removing replayed quarantine file: %w", err)
			}
			_ = os.Remove(strings.TrimSuffix(p, segSuffix) + reasonSuffix)
			sum.Removed++
		case len(keep) < len(recs) || len(bad) > 0:
			if err := writeFileSync(filepath.Dir(p), p, func(w io.Writer) error {
				if _, err := io.WriteString(w, segMagic); err != nil {
					return err
				}
				for _, rec := range keep {
					if _, err := w.Write(rec); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return sum, fmt.Errorf("rewriting quarantine file: %w", err)
			}
		}
		if stopErr != nil {
			return sum, stopErr
		}
	}
	return sum, nil
}

// keepBadSpans copies the unreadable spans of a quarantine file to
// corrupt/ before the file is rewritten without them.
func keepBadSpans(spoolDir, path string, bad []span) error {
	if len(bad) == 0 {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dir := filepath.Join(spoolDir, CorruptDir)
	for _, sp := range bad {
		name := fmt.Sprintf("quarantine-%s-%012d.corrupt", strings.TrimSuffix(filepath.Base(path), segSuffix), sp.from)
		if err := writeFileSync(dir, filepath.Join(dir, name), func(w io.Writer) error {
			_, err := w.Write(b[sp.from:sp.to])
			return err
		}); err != nil {
			return fmt.Errorf("keeping a corrupt quarantine record: %w", err)
		}
	}
	return nil
}
