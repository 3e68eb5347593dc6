package wire_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange/wire"
)

func TestWalkHandsOverOnlyItsPaths(t *testing.T) {
	body := []byte(`{"code":"0","skip":{"deep":[1,{"x":"y"}],"n":null},"data":{"time":"17","rows":[{"id":"a","v":"1"},{"id":"b"}]}}`)
	var code, at wire.Text
	var ids []string
	err := wire.Walk(body, map[string]wire.Handler{
		"code":      wire.Into(&code),
		"data.time": wire.Into(&at),
		"data.rows": func(d *json.Decoder) error {
			return wire.Each(d, func(_ int, r *struct{ ID, V string }) error {
				ids = append(ids, r.ID+"="+r.V)
				return nil
			})
		},
	})
	require.NoError(t, err)
	require.Equal(t, wire.Text("0"), code)
	require.Equal(t, wire.Text("17"), at)
	require.Equal(t, []string{"a=1", "b="}, ids, "a reused row is reset")

	require.ErrorIs(t, wire.Walk([]byte(`[1] [2]`), map[string]wire.Handler{"": wire.Skip}), wire.ErrTrailing)
	require.Error(t, wire.Walk([]byte(`{"rows":[{"id":`), map[string]wire.Handler{"rows": wire.Skip}))
	err = wire.Walk([]byte(`{"rows":{"a":1}}`), map[string]wire.Handler{"rows": func(d *json.Decoder) error {
		return wire.Each(d, func(int, *int) error { return nil })
	}})
	require.ErrorIs(t, err, wire.ErrShape)
}

func TestEachKeyAndSeen(t *testing.T) {
	var keys []string
	seen := wire.Seen{}
	err := wire.Walk([]byte(`{"r":{"a":{"v":1},"b":{"v":2},"a":{"v":3}}}`), map[string]wire.Handler{"r": func(d *json.Decoder) error {
		return wire.EachKey(d, func(k string, v *struct{ V int }) error {
			keys = append(keys, k)
			return seen.Add(k)
		})
	}})
	require.ErrorIs(t, err, wire.ErrDuplicate)
	require.Equal(t, []string{"a", "b", "a"}, keys)
}

func TestValueAtAndEachRaw(t *testing.T) {
	body := []byte(` {"error":[], "result" : {"k1":{"a":["1","2"]}, "k\u00e9\"2" :"s,}]" ,"k3":[{"x":"}"}],"k4":12.5e3,"k5":null}, "z":1}`)
	off, ok, err := wire.ValueAt(body, "result")
	require.NoError(t, err)
	require.True(t, ok)
	got := map[string]string{}
	end, err := wire.EachRaw(body, off, func(k string, raw []byte) error {
		got[k] = string(raw)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"k1": `{"a":["1","2"]}`, "ké\"2": `"s,}]"`, "k3": `[{"x":"}"}]`, "k4": "12.5e3", "k5": "null"}, got)
	require.Equal(t, `, "z":1}`, string(body[end:]))

	_, ok, err = wire.ValueAt(body, "nope")
	require.NoError(t, err)
	require.False(t, ok)
	stop := errors.New("stop")
	_, err = wire.EachRaw(body, off, func(string, []byte) error { return stop })
	require.ErrorIs(t, err, stop)
}

// FuzzEachRaw: on any valid JSON object, EachRaw sees the keys and values
// encoding/json sees.
func FuzzEachRaw(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"x\"]}"]},"c":"\u0041"}`, ` { "a" : [ ] , "b" : { } } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil || want == nil {
			return
		}
		got := map[string]json.RawMessage{}
		_, err := wire.EachRaw(b, 0, func(k string, raw []byte) error {
			got[k] = raw
			return nil
		})
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for k, v := range want {
			var a, b any
			require.NoError(t, json.Unmarshal(v, &a))
			require.NoError(t, json.Unmarshal(got[k], &b), "%q: %s", k, got[k])
			require.Equal(t, a, b, k)
		}
	})
}
