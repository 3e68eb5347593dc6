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
