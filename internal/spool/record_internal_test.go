package spool

import (
	"bytes"
	"testing"
	"time"

	"github.com/mdingest/mdingest/internal/market"
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
		_, _, _ = decodeBody(body) // must not panic
	})
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
