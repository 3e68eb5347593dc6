package kraken

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
)

// TestTradesAfter: since goes a millisecond before the cursor, in
// nanoseconds; what comes back up to the cursor is dropped; a full count
// means more follow.
func TestTradesAfter(t *testing.T) {
	at := time.Unix(1710327959, 173346800).UTC()
	rows := make([]string, 5)
	for i := range rows {
		ts := at.Add(time.Duration(i-1) * 100 * time.Microsecond)
		rows[i] = fmt.Sprintf(`["100.0","0.1",%d.%09d,"b","m","",%d]`, ts.Unix(), ts.Nanosecond(), 6324365+i)
	}
	body := `{"error":[],"result":{"XXBTZUSD":[` + strings.Join(rows, ",") + `],"last":"1"}}`
	fake := suite.Fake(t)
	fake.Handle("/0/public/Trades", []byte(body))
	cursor := exchange.TradeCursor{ID: "6324366", Time: at}
	pg, err := New(fake).TradesAfter(context.Background(), "BTC/USD", cursor, 5)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("/0/public/Trades?count=5&pair=XXBTZUSD&since=%d", at.Add(-time.Millisecond).UnixNano()), fake.Last().Path)
	require.Len(t, pg.Trades, 3, "the cursor and the trade before it are dropped")
	require.Equal(t, "6324367", pg.Trades[0].ID)
	require.True(t, pg.More, "a full count")
	require.False(t, pg.Lost)
}
