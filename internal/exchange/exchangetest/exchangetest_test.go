package exchangetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

func TestCompareURL(t *testing.T) {
	tests := []struct {
		name, want, got string
		skip            []string
		ok              bool
	}{
		{"same, other order", "https://api.x.com/a?b=1&c=2", "/a?c=2&b=1", nil, true},
		{"skip key", "https://api.x.com/a?b=1&ts=9", "/a?b=1&ts=8", []string{"ts"}, true},
		{"other path", "https://api.x.com/a?b=1", "/b?b=1", nil, false},
		{"missing param", "https://api.x.com/a?b=1&c=2", "/a?b=1", nil, false},
		{"escaped list", "https://api.x.com/a?symbols=%5B%22X%22%5D", `/a?symbols=["X"]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CompareURL(tt.want, tt.got, tt.skip)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrURLMismatch)
			}
		})
	}
}

func TestRequesterLongestPrefix(t *testing.T) {
	r := NewRequester(map[string]string{"/a": "short", "/a/b": "long"})
	ctx := context.Background()
	b, err := r.Get(ctx, exchange.Request{Endpoint: "x", Path: "/a/b?c=1", Weight: 2})
	require.NoError(t, err)
	require.Equal(t, "long", string(b))
	b, err = r.Get(ctx, exchange.Request{Endpoint: "y", Path: "/a/c"})
	require.NoError(t, err)
	require.Equal(t, "short", string(b))
	_, err = r.Get(ctx, exchange.Request{Path: "/z"})
	require.ErrorIs(t, err, ErrNoRoute)
	require.Len(t, r.Requests(), 3)
	require.Equal(t, 2, r.Requests()[0].Weight)

	r.AnswerAll([]byte("bad"))
	b, err = r.Get(ctx, exchange.Request{Path: "/a"})
	require.NoError(t, err)
	require.Equal(t, "bad", string(b))
	r.Reset()
	require.Empty(t, r.Requests())
}

func TestCompareDecimal(t *testing.T) {
	tests := []struct {
		want    string
		got     string
		agree   bool
		rounded bool
	}{
		{`73369.84`, "73369.84000000", true, false},
		{`"0.1"`, "0.10", true, false},
		{`5167027510.687287`, "5167027510.68728707", true, true}, // CCXT's double
		{`5167027510.687288`, "5167027510.68728707", false, false},
		{`null`, "", true, false},
		{`null`, "1", false, false},
		{`1`, "", false, false},
	}
	for _, tt := range tests {
		var r Result
		var d market.Decimal
		if tt.got != "" {
			d = market.MustDecimal(tt.got)
		}
		r.decimal("x", json.RawMessage(tt.want), d)
		require.Equal(t, tt.agree, r.Fields[0].Agree, "%s vs %s", tt.want, tt.got)
		require.Equal(t, tt.rounded, r.Fields[0].Rounded, "%s vs %s", tt.want, tt.got)
	}
}

func TestSummary(t *testing.T) {
	parsed := json.RawMessage(`[[1706630400000, 1, 2, 0.5, 1.5, 10]]`)
	c := market.Candle{Time: time.UnixMilli(1706630400000).UTC(), Open: market.MustDecimal("1"), High: market.MustDecimal("2"),
		Low: market.MustDecimal("0.5"), Close: market.MustDecimal("1.5"), Volume: market.MustDecimal("11")}
	r, err := CompareOHLCV(parsed, []market.Candle{c})
	require.NoError(t, err)
	var s Summary
	bad := s.Add("x", "ohlcv", r, nil)
	require.Len(t, bad, 1)
	require.Equal(t, "volume", bad[0].Key)
	bad = s.Add("x", "ohlcv", r, map[string]string{"volume": "because"})
	require.Empty(t, bad)
	rows := s.Rows()
	require.Equal(t, Row{Exchange: "x", DataType: "ohlcv", Cases: 2, Fields: 14, Agreed: 12, Justified: 1}, rows[0])
	require.Contains(t, s.Markdown(), "| x | ohlcv | 2 | 14 | 12 | 0 | 1 |")
}

func TestLoadFixture(t *testing.T) {
	f := LoadFixture(t, "binance")
	require.Equal(t, "binance", f.Exchange)
	found := false
	for _, c := range f.Cases {
		if c.Method == "fetchOHLCV" && c.Description == "Spot OHLCV with since and limit" {
			found = true
			require.Equal(t, market.TF1h, c.Timeframe())
			require.Equal(t, int64(1706628191000), c.Since().UnixMilli())
			require.Equal(t, 3, c.Limit())
			require.True(t, c.Spot())
		}
	}
	require.True(t, found, "the fixture holds the spot OHLCV case")
}
