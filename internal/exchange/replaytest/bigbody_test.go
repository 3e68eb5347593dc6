package replaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
)

// allTickers is where each exchange's all-tickers answer lists its rows:
// the route, the JSON path of the rows ("" for the document), and the
// field naming a row's market ("" when rows are keyed by it).
var allTickers = map[string]struct{ path, rows, id string }{
	"binance":  {"/api/v3/ticker/24hr", "", "symbol"},
	"kraken":   {"/0/public/Ticker", "result", ""},
	"kucoin":   {"/api/v1/market/allTickers", "data.ticker", "symbol"},
	"htx":      {"/market/tickers", "data", "symbol"},
	"okx":      {"/api/v5/market/tickers?instType=SPOT", "data", "instId"},
	"bybit":    {"/v5/market/tickers?category=spot", "result.list", "symbol"},
	"bitstamp": {"/api/v2/ticker/", "", "pair"},
}

// bigBodyBytes is the size of the answer in the report: 31.8 MB, under the
// client's 32 MiB cap.
const bigBodyBytes = 31_800_000

// TestAllTickersDecodeInBoundedMemory feeds each connector an all-tickers
// answer of 31.8 MB: the replay's rows for the symbols asked, padded with
// 1.4 million tiny rows of markets nobody asked for, the shape that cost
// the most when every row was decoded into a slice first (707 MB of RSS
// for `mdingest fetch`). Rows are now decoded one at a time and only the
// asked ones kept: the bytes allocated while parsing (measured with the
// collector off, so an upper bound of the heap's growth) stay within a
// small multiple of the body: 0.4 to 1.8 times it (2.4 under -race), where
// it was 45 to 72 times.
func TestAllTickersDecodeInBoundedMemory(t *testing.T) {
	s := newServer(t, replay.Options{})
	for _, id := range registry.IDs() {
		at, ok := allTickers[id]
		if !ok {
			continue // no all-tickers endpoint
		}
		t.Run(id, func(t *testing.T) {
			hc := newClient(t, s, id, clientOpts{})
			ctx := testCtx(t)
			normal, err := hc.http.Get(ctx, exchange.Request{Endpoint: "tickers", Path: at.path})
			require.NoError(t, err)
			body := pad(t, normal, at.rows, at.id, bigBodyBytes)
			require.InDelta(t, bigBodyBytes, len(body), 64)
			ctx = testCtx(t) // padding takes a while under -race on a loaded machine

			reg, ok := registry.Lookup(id)
			require.True(t, ok)
			c := reg.New(bigTickers{r: hc.http, path: strings.Split(at.path, "?")[0], body: body})
			_, err = c.Markets(ctx) // the market index, loaded before measuring
			require.NoError(t, err)
			syms := []market.Symbol{btcUSDT, ethUSDT}
			var ts []market.Ticker
			alloc := allocated(func() { ts, err = c.Tickers(ctx, syms) })
			require.NoError(t, err)
			require.Len(t, ts, 2)
			ratio := float64(alloc) / float64(len(body))
			t.Logf("%s: %.1f MB body, %.1f MB allocated while decoding (%.2f× the body)", id, float64(len(body))/1e6, float64(alloc)/1e6, ratio)
			// Before: 45 to 72 times the body (every row in a slice first).
			require.Less(t, ratio, 3.0, "decoding allocates within a small multiple of the body")
		})
	}
}

// allocated returns the bytes allocated while f ran, with the collector
// off so that nothing is freed meanwhile.
func allocated(f func()) uint64 {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bigTickers answers the all-tickers route with body and passes the rest
// to the real client.
type bigTickers struct {
	r    exchange.Requester
	path string
	body []byte
}

func (b bigTickers) Get(ctx context.Context, r exchange.Request) ([]byte, error) {
	if strings.Split(r.Path, "?")[0] == b.path {
		return b.body, nil
	}
	return b.r.Get(ctx, r)
}

// pad inserts tiny rows of unknown markets at the start of the rows at
// path in answer until it is size bytes long.
func pad(t *testing.T, answer []byte, path, idField string, size int) []byte {
	t.Helper()
	off := rowsOffset(t, answer, path)
	var filler bytes.Buffer
	filler.Grow(size)
	for i := 0; len(answer)+filler.Len() < size-40; i++ {
		if idField == "" {
			fmt.Fprintf(&filler, `"F%d":{},`, i)
		} else {
			fmt.Fprintf(&filler, `{%q:"F%d"},`, idField, i)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, answer[:off]...)
	out = append(out, filler.Bytes()...)
	out = append(out, answer[off:]...)
	for len(out) < size { // whitespace up to the size
		out = append(out, ' ')
	}
	require.True(t, json.Valid(out))
	return out
}

// rowsOffset returns the offset just inside the array or object at path.
func rowsOffset(t *testing.T, doc []byte, path string) int {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(doc))
	rest := strings.Split(path, ".")
	if path == "" {
		rest = nil
	}
	for {
		tok, err := d.Token()
		require.NoError(t, err, "no rows at %q", path)
		if len(rest) == 0 {
			require.Contains(t, []json.Token{json.Delim('['), json.Delim('{')}, tok)
			return int(d.InputOffset())
		}
		require.Equal(t, json.Delim('{'), tok, "no rows at %q", path)
		for {
			require.True(t, d.More(), "no rows at %q", path)
			key, err := d.Token()
			require.NoError(t, err)
			if key == rest[0] {
				rest = rest[1:]
				break
			}
			require.NoError(t, wire.Skip(d))
		}
	}
}
