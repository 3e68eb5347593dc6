package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckText: the ASCII loop passes only what the full UTF-8 and NUL
// test passes.
func TestCheckText(t *testing.T) {
	for s, ok := range map[string]bool{
		"binance": true, "BTC/USDT": true, "1m": true, "BTC/€": true, "ß": true,
		"": false, "BTC/USDT\x00": false, "\x00": false, "\xffBTC": false, "BTC\xc3": false, "€\x00": false,
	} {
		require.Equal(t, ok, checkText("binance", s) == nil, "%q", s)
	}
}
