package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // the flag the message must name
	}{
		{[]string{"--scale", "-1"}, "--scale"},
		{[]string{"--scale", "many"}, "-scale"},
		{[]string{"--trade-rate", "-5"}, "--trade-rate"},
		{[]string{"--trade-rate", "2e6"}, "--trade-rate"},
		{[]string{"--fault", "binance=explode"}, "-fault"},
		{[]string{"--rate-limit", "binance,nowhere"}, "--rate-limit"},
		{[]string{"--symbols", "BTCUSDT"}, "BTCUSDT"},
		{[]string{"--listen", "nohostport"}, "--listen"},
		{[]string{"--fixtures", "/does/not/exist"}, "--fixtures"},
		{[]string{"--nope"}, "-nope"},
		{[]string{"extra"}, "extra"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := run(t.Context(), append([]string{"--fixtures", "../../testdata/replay"}, tt.args...), &stderr)
		require.Equal(t, 2, code, "%v: %s", tt.args, stderr.String())
		require.Contains(t, stderr.String(), tt.want, tt.args)
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"--help"}, &stderr))
	require.Contains(t, stderr.String(), "-keep-times")
}

// A cancelled context shuts the server down cleanly: exit 0.
func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stderr bytes.Buffer
	code := run(ctx, []string{"--listen", "127.0.0.1:0", "--fixtures", "../../testdata/replay", "--fault", "okx=500", "--rate-limit", "none"}, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stderr.String(), "stopped")
}
