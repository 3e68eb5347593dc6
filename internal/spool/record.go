package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// On disk a segment is a header followed by records:
//
//	header: "MDSPOOL" 0x01                       (8 bytes)
//	record: length uint32 LE                     (4 bytes, of the body)
//	        crc    uint32 LE                     (4 bytes, CRC-32C of length and body)
//	        body:  version 0x02,
//	               table length byte, table name,
//	               rows uvarint (how many),
//	               payload (gob of the rows, see codec.go)
//
// Format 1 (mdingest before the table registry) had a row-kind byte after
// the version and gob'd copies of the rows; this binary cannot read its
// payloads, so Peek moves such records whole to the quarantine, where the
// release that wrote them can replay them (see Peek).
//
// Records are only appended, each followed by an fsync, so a crash can
// leave at most one torn record, at the end of the newest segment; its
// checksum (or its length running past the end) gives it away.
const (
	segMagic     = "MDSPOOL\x01"
	headerSize   = int64(len(segMagic))
	frameSize    = 8
	bodyVersion  = 2
	oldVersion   = 1       // format 1: version, kind, table length, table, payload
	maxBodyBytes = 1 << 30 // a larger length is corruption, not a batch
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errTorn marks a record that is incomplete or fails its checksum.
	errTorn = errors.New("torn or corrupt record")
	// errOldFormat marks a sound record of format 1.
	errOldFormat = errors.New("spool record of format 1, written by an mdingest before the table registry")
)

// encodeRecord frames one batch of rows for table.
func encodeRecord(table string, rows any) ([]byte, error) {
	if len(table) == 0 || len(table) > 255 {
		return nil, fmt.Errorf("%w: table name %q empty or too long", ErrInvalid, table)
	}
	count, payload, err := encodeRows(rows)
	if err != nil {
		return nil, err
	}
	n := 2 + len(table) + binary.MaxVarintLen64 + len(payload)
	rec := make([]byte, frameSize, frameSize+n)
	rec = append(rec, bodyVersion, byte(len(table)))
	rec = append(rec, table...)
	rec = binary.AppendUvarint(rec, uint64(count))
	rec = append(rec, payload...)
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(rec)-frameSize))
	binary.LittleEndian.PutUint32(rec[4:8], checksum(rec[0:4], rec[frameSize:]))
	return rec, nil
}

func checksum(length, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, body)
}

// readRecord reads the record at off of a segment size bytes long and
// returns its body and the offset after it; errTorn when the record is
// incomplete or its checksum fails, an I/O error otherwise.
func readRecord(r io.ReaderAt, off, size int64) ([]byte, int64, error) {
	if size-off < frameSize {
		return nil, off, errTorn
	}
	var head [frameSize]byte
	if _, err := r.ReadAt(head[:], off); err != nil {
		return nil, off, fmt.Errorf("reading record header: %w", err)
	}
	n := int64(binary.LittleEndian.Uint32(head[0:4]))
	if n < 3 || n > maxBodyBytes || n > size-off-frameSize {
		return nil, off, errTorn
	}
	body := make([]byte, n)
	if _, err := r.ReadAt(body, off+frameSize); err != nil {
		return nil, off, fmt.Errorf("reading record: %w", err)
	}
	if checksum(head[0:4], body) != binary.LittleEndian.Uint32(head[4:8]) {
		return nil, off, errTorn
	}
	return body, off + frameSize + n, nil
}

// body is a record's body, split.
type body struct {
	table   string
	rows    int
	payload []byte
}

// decodeBody splits a record's body. A format 1 record returns its table
// and errOldFormat; an undecodable one, ErrCorrupt.
func decodeBody(b []byte) (body, error) {
	if len(b) >= 3 && b[0] == oldVersion {
		if tl := int(b[2]); len(b) >= 3+tl {
			return body{table: string(b[3 : 3+tl])}, errOldFormat
		}
	}
	if len(b) < 2 || b[0] != bodyVersion {
		return body{}, fmt.Errorf("%w: unknown record version", ErrCorrupt)
	}
	tl := int(b[1])
	if len(b) < 2+tl {
		return body{}, fmt.Errorf("%w: short record", ErrCorrupt)
	}
	rows, n := binary.Uvarint(b[2+tl:])
	if n <= 0 || rows > maxBodyBytes {
		return body{}, fmt.Errorf("%w: bad row count", ErrCorrupt)
	}
	return body{table: string(b[2 : 2+tl]), rows: int(rows), payload: b[2+tl+n:]}, nil
}

// span is a stretch of a segment that holds no sound record: a record
// that fails its checksum (corrupt), or an incomplete last one (torn).
type span struct {
	from, to int64
	torn     bool
}

// walk lists the sound records of a segment between off and size, and the
// spans between them that are not. After a bad record it looks for the
// next sound one (see nextRecord), so one flipped bit costs one record,
// not the rest of the segment.
func walk(r io.ReaderAt, off, size int64) (starts []int64, bad []span, err error) {
	for off < size {
		_, next, err := readRecord(r, off, size)
		if err == nil {
			starts = append(starts, off)
			off = next
			continue
		}
		if !errors.Is(err, errTorn) {
			return nil, nil, err
		}
		sound, err := nextRecord(r, off, size)
		if err != nil {
			return nil, nil, err
		}
		bad = append(bad, span{from: off, to: sound, torn: sound == size && incomplete(r, off, size)})
		off = sound
	}
	return starts, bad, nil
}

// incomplete reports whether the record at off runs past the end: what a
// crash in the middle of an append leaves.
func incomplete(r io.ReaderAt, off, size int64) bool {
	if size-off < frameSize {
		return true
	}
	var head [4]byte
	if _, err := r.ReadAt(head[:], off); err != nil {
		return true
	}
	return int64(binary.LittleEndian.Uint32(head[:])) > size-off-frameSize
}

// nextRecord returns the offset of the first sound record after the bad
// one at off, or size when none follows. A flipped bit in a body leaves
// the length intact, so the record after it is tried first; otherwise
// every later offset is, cheaply filtered by what a record's start must
// look like before its checksum is computed.
func nextRecord(r io.ReaderAt, off, size int64) (int64, error) {
	var head [frameSize]byte
	if size-off >= frameSize {
		if _, err := r.ReadAt(head[:], off); err != nil {
			return 0, fmt.Errorf("reading record header: %w", err)
		}
		if n := int64(binary.LittleEndian.Uint32(head[0:4])); n >= 3 && n <= size-off-frameSize {
			next := off + frameSize + n
			if next == size {
				return size, nil
			}
			if _, _, err := readRecord(r, next, size); err == nil {
				return next, nil
			}
		}
	}
	const window = 1 << 20
	buf := make([]byte, window+frameSize+3+255)
	for base := off + 1; base+frameSize+3 <= size; base += window {
		n := int(min(int64(len(buf)), size-base))
		if _, err := r.ReadAt(buf[:n], base); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("reading spool segment: %w", err)
		}
		for i := 0; i < min(window, n); i++ {
			o := base + int64(i)
			if !plausibleStart(buf[i:n], size-o) {
				continue
			}
			if _, _, err := readRecord(r, o, size); err == nil {
				return o, nil
			}
		}
	}
	return size, nil
}

// plausibleStart checks what the start of a record must hold (a length
// within the segment, the body's version, a table name) before the
// checksum is worth computing.
func plausibleStart(b []byte, left int64) bool {
	if len(b) < frameSize+3 {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(b[0:4]))
	if n < 3 || n > left-frameSize || b[frameSize] != bodyVersion {
		return false
	}
	tl := int(b[frameSize+1])
	if tl == 0 || int64(3+tl) > n {
		return false
	}
	name := b[frameSize+2:]
	for i := 0; i < min(tl, len(name)); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
