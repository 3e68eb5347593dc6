package coinbaseexchange

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/exchangetest"
)

// trades answers ids from..from+n-1, newest first as Coinbase sends them,
// several of them in one microsecond.
func trades(from, n int) []byte {
	rows := make([]string, n)
	for i := range rows {
		id := from + n - 1 - i
		at := time.UnixMicro(1700000000000000 + int64(id/2)).UTC().Format(time.RFC3339Nano)
		rows[i] = fmt.Sprintf(`{"time":%q,"trade_id":%d,"price":"100.00","size":"0.5","side":"buy"}`, at, id)
	}
	return []byte("[" + strings.Join(rows, ",") + "]")
}

func TestTradesAfter(t *testing.T) {
	cursor := exchange.TradeCursor{ID: "100"}
	for _, tt := range []struct {
		name        string
		from, n     int
		limit       int
		more, lost  bool
		wantRequest string
	}{
		{"the next page", 101, 4, 0, false, false, "/products/BTC-USD/trades?before=100&limit=1000"},
		{"a full page", 101, 4, 4, true, false, "/products/BTC-USD/trades?before=100&limit=4"},
		{"ids past the cursor's next", 120, 2, 0, false, true, "/products/BTC-USD/trades?before=100&limit=1000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return trades(tt.from, tt.n), nil })
			pg, err := New(fake).TradesAfter(context.Background(), "BTC/USD", cursor, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.wantRequest, fake.Last().Path)
			require.Len(t, pg.Trades, tt.n)
			for i, tr := range pg.Trades {
				require.Equal(t, fmt.Sprint(tt.from+i), tr.ID, "oldest first, ties of one instant in id order")
			}
			require.Equal(t, tt.more, pg.More)
			require.Equal(t, tt.lost, pg.Lost)
		})
	}
}
