package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// klinePage is a page of n Binance klines, as /api/v3/klines answers.
func klinePage(n int) []byte {
	rows := make([]string, n)
	for i := range rows {
		ms := 1704067200000 + int64(i)*60000
		rows[i] = fmt.Sprintf(`[%d,"42283.58000000","42298.62000000","42261.02000000","42275.19000000","35.92724000",%d,"1519159.36743410",1397,"18.34570000","775761.01823020","0"]`, ms, ms+59999)
	}
	return []byte("[" + strings.Join(rows, ",") + "]")
}

var textRowsSeeds = []string{
	`[]`, `[[]]`, `null`, `[null]`, `[[null]]`, ` [ [ 1 , "a" ] , [ ] ] `, `[[1,"2"],[3]]`,
	`[["a\"b"]]`, `[["\u00e9"]]`, `[[true]]`, `[[{"a":1}]]`, `[[[1]]]`, `[[1]] x`, `[[01]]`,
	`[[-0.5e+10, 1E3, -1]]`, `[[1.]]`, `[[.5]]`, `[[-]]`, `[["a` + "\x01" + `"]]`, "[[\"\xff\"]]",
	`[[1,]]`, `[[1],]`, `[`, `[[`, `[["x"`, `{"a":[]}`, `"s"`, `1`, ``, string(klinePage(3)),
}

// TestTextRows: TextRows decodes as json.Unmarshal into [][]Text does,
// values, nil-versus-empty and errors alike.
func TestTextRows(t *testing.T) {
	for _, in := range textRowsSeeds {
		sameAsUnmarshal(t, []byte(in))
	}
	rows, ok := scanTextRows(klinePage(2))
	require.True(t, ok, "a kline page is read without encoding/json")
	require.Equal(t, Text("1704067200000"), rows[0][0])
	require.Equal(t, Text("42283.58000000"), rows[1][1])
}

func FuzzTextRows(f *testing.F) {
	for _, in := range textRowsSeeds {
		f.Add([]byte(in))
	}
	f.Fuzz(sameAsUnmarshal)
}

func sameAsUnmarshal(t *testing.T, in []byte) {
	got, err := TextRows(in)
	var want [][]Text
	if werr := json.Unmarshal(in, &want); werr != nil {
		require.EqualError(t, err, werr.Error(), "%q", in)
		return
	}
	require.NoError(t, err, "%q", in)
	require.Equal(t, want, got, "%q", in)
}

// BenchmarkTextRows decodes a page of 1,000 klines with TextRows and with
// json.Unmarshal into [][]Text, the decoder it replaces.
func BenchmarkTextRows(b *testing.B) {
	page := klinePage(1000)
	for _, way := range []struct {
		name   string
		decode func([]byte) error
	}{
		{"TextRows", func(p []byte) error { _, err := TextRows(p); return err }},
		{"Unmarshal", func(p []byte) error { var rows [][]Text; return json.Unmarshal(p, &rows) }},
	} {
		b.Run(way.name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				if err := way.decode(page); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
