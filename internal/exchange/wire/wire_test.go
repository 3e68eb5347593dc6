package wire

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{`"0.10"`, "0.10", nil},
		{`0.10`, "0.10", nil},
		{`-1e-8`, "-1e-8", nil},
		{`123456789012345678901234567890.123456789`, "123456789012345678901234567890.123456789", nil},
		{`null`, "", nil},
		{`""`, "", nil},
		{`"BTC\/USDT"`, "BTC/USDT", nil},
		{`true`, "", ErrShape},
		{`{}`, "", ErrShape},
		{`[1]`, "", ErrShape},
	} {
		var v struct{ X Text }
		err := json.Unmarshal([]byte(`{"X":`+tc.in+`}`), &v)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, Text(tc.want), v.X, tc.in)
	}
}

func TestDecode(t *testing.T) {
	var v map[string]any
	require.NoError(t, Decode([]byte(` {"a":1.50} `), &v))
	require.Equal(t, json.Number("1.50"), v["a"])
	require.ErrorIs(t, Decode([]byte(`{} {}`), &v), ErrTrailing)
	require.Error(t, Decode([]byte(`{`), &v))
}

func TestFields(t *testing.T) {
	var f Fields
	require.False(t, f.Dec("a", "").Valid(), "absent stays absent")
	require.Equal(t, "1.50", f.Dec("a", "1.50").String())
	require.Equal(t, int64(1700000000000), f.Millis("t", "1700000000000").UnixMilli())
	require.True(t, f.Millis("t", "").IsZero())
	require.Equal(t, int64(42), f.Int("n", "42"))
	require.NoError(t, f.Err)

	f = Fields{}
	f.Req("price", "")
	require.ErrorIs(t, f.Err, ErrMissing)
	require.False(t, f.Dec("b", "2").Valid(), "nothing is parsed after the first error")
	require.ErrorIs(t, f.Err, ErrMissing, "the first error is kept")

	for _, tc := range []struct {
		name string
		use  func(*Fields)
		want error
	}{
		{"bad decimal", func(f *Fields) { f.Dec("a", "x") }, market.ErrInvalidDecimal},
		{"bad time", func(f *Fields) { f.Millis("t", "1.5") }, ErrShape},
		{"time before 1970", func(f *Fields) { f.Millis("t", "-1") }, ErrShape},
		{"bad integer", func(f *Fields) { f.Int("n", "1.0") }, ErrShape},
	} {
		var f Fields
		tc.use(&f)
		require.ErrorIs(t, f.Err, tc.want, tc.name)
	}
}

func TestNonZero(t *testing.T) {
	d := market.MustDecimal
	require.False(t, NonZero(d("0.00")).Valid(), "a zero price is none")
	require.Equal(t, "1.0", NonZero(d("1.0")).String())
}

func TestLevels(t *testing.T) {
	rows := [][]Text{{"1.5", "2"}, {"1.4", "3", "extra"}, {"1.3", "4"}}
	ls, err := Levels("bids", "size", rows, 2)
	require.NoError(t, err)
	require.Equal(t, []market.Level{
		{Price: market.MustDecimal("1.5"), Amount: market.MustDecimal("2")},
		{Price: market.MustDecimal("1.4"), Amount: market.MustDecimal("3")},
	}, ls)
	ls, err = Levels("bids", "size", nil, 0)
	require.NoError(t, err)
	require.NotNil(t, ls, "no levels is an empty side, not an absent one")
	require.Empty(t, ls)

	_, err = Levels("asks", "size", [][]Text{{"1"}}, 0)
	require.ErrorIs(t, err, ErrShape)
	_, err = Levels("asks", "amount", [][]Text{{"1", ""}}, 0)
	require.ErrorIs(t, err, ErrMissing)
	require.ErrorContains(t, err, "asks[0].amount")
	_, err = Levels("asks", "size", [][]Text{{"x", "1"}}, 0)
	require.ErrorIs(t, err, market.ErrInvalidDecimal)
}
