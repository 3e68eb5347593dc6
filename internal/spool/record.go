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
//	        body:  version 0x01, kind byte,
//	               table length byte, table name,
//	               payload (gob of the rows)
//
// Records are only appended, each followed by an fsync, so a crash can
// leave at most one torn record, at the end of the newest segment; its
// checksum (or its length running past the end) gives it away.
const (
	segMagic     = "MDSPOOL\x01"
	headerSize   = int64(len(segMagic))
	frameSize    = 8
	bodyVersion  = 1
	maxBodyBytes = 1 << 30 // a larger length is corruption, not a batch
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that is incomplete or fails its checksum.
var errTorn = errors.New("torn or corrupt record")

// encodeRecord frames one batch of rows for table.
func encodeRecord(table string, rows any) ([]byte, error) {
	if len(table) > 255 {
		return nil, fmt.Errorf("%w: table name %q too long", ErrInvalid, table)
	}
	k, payload, err := encodeRows(rows)
	if err != nil {
		return nil, err
	}
	n := 3 + len(table) + len(payload)
	rec := make([]byte, frameSize, frameSize+n)
	rec = append(rec, bodyVersion, byte(k), byte(len(table)))
	rec = append(rec, table...)
	rec = append(rec, payload...)
	binary.LittleEndian.PutUint32(rec[0:4], uint32(n))
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

// decodeBody splits a record's body into its table and rows.
func decodeBody(body []byte) (string, any, error) {
	if len(body) < 3 || body[0] != bodyVersion {
		return "", nil, fmt.Errorf("%w: unknown record version", ErrCorrupt)
	}
	tl := int(body[2])
	if len(body) < 3+tl {
		return "", nil, fmt.Errorf("%w: short record", ErrCorrupt)
	}
	rows, err := decodeRows(kind(body[1]), body[3+tl:])
	if err != nil {
		return "", nil, err
	}
	return string(body[3 : 3+tl]), rows, nil
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
// within the segment, the body's version, a known kind, a table name)
// before the checksum is worth computing.
func plausibleStart(b []byte, left int64) bool {
	if len(b) < frameSize+3 {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(b[0:4]))
	if n < 3 || n > left-frameSize || b[frameSize] != bodyVersion {
		return false
	}
	if k := kind(b[frameSize+1]); k < kindMarkets || k > kindRequestMetrics {
		return false
	}
	tl := int(b[frameSize+2])
	if tl == 0 || int64(3+tl) > n {
		return false
	}
	name := b[frameSize+3:]
	for i := 0; i < min(tl, len(name)); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
