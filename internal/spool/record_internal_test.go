package spool

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/tables"
)

// FuzzReadRecord: whatever the bytes on disk, reading never panics and
// never returns a record whose checksum does not hold.
func FuzzReadRecord(f *testing.F) {
	rec, err := encodeRecord("candles", []market.Candle{{Exchange: "b", Symbol: "A/B", Time: time.Unix(0, 0).UTC(),
		Open: market.MustDecimal("1")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, next, err := readRecord(bytes.NewReader(b), 0, int64(len(b)))
		if err != nil {
			return
		}
		if next != int64(frameSize+len(body)) || checksum(b[0:4], body) != le32(b[4:8]) {
			t.Fatalf("accepted a record that does not check out")
		}
		_, _ = decodeBody(body) // must not panic
	})
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// frameV1 frames a body as format 1 wrote it: version 1, a kind byte, the
// table, a payload.
func frameV1(table string, payload []byte) []byte {
	body := append([]byte{oldVersion, 4, byte(len(table))}, table...)
	body = append(body, payload...)
	rec := make([]byte, frameSize, frameSize+len(body))
	rec = append(rec, body...)
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[4:8], checksum(rec[0:4], body))
	return rec
}

// A record of format 1 (before the table registry) cannot be read by this
// binary: it goes whole to the quarantine, named for what it is, and the
// records after it are replayed.
func TestOldFormatRecordGoesToQuarantine(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	later := []market.Candle{{Exchange: "b", Symbol: "A/B", Time: time.Unix(60, 0).UTC(), Open: market.MustDecimal("2")}}
	require.NoError(t, s.Append("candles", later, 1))
	require.NoError(t, s.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	old := frameV1("candles", []byte("gob of wireCandle"))
	require.NoError(t, os.WriteFile(segs[0], append(append([]byte(segMagic), old...), b[headerSize:]...), 0o640))

	s, err = Open(dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 2, s.Pending())
	table, rows, ok, err := s.Peek(tables.NewRows)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "candles", table)
	require.Equal(t, later, rows)
	require.NoError(t, s.Ack())
	require.Zero(t, s.Pending())

	list, err := ListQuarantine(dir)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, 1, list[0].Bad, "kept, unreadable here")
	require.Contains(t, list[0].Reason, "format 1")
	kept, err := os.ReadFile(list[0].Path)
	require.NoError(t, err)
	require.Equal(t, append([]byte(segMagic), old...), kept, "the record whole, for the release that wrote it")
}
