package bitstamp

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

// TestTradesAfter: the smallest window that reaches back to the cursor;
// trades up to it are dropped by tid (several share a second); a cursor
// older than a day is past what Bitstamp serves.
func TestTradesAfter(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tt := range []struct {
		age    time.Duration
		window string
		lost   bool
	}{
		{0, "minute", false}, {10 * time.Second, "minute", false}, {50 * time.Second, "hour", false},
		{2 * time.Hour, "day", false}, {30 * time.Hour, "day", true},
	} {
		at := now.Add(-tt.age)
		// tids 101 and 102 in the cursor's second, 103 and 104 in the next; newest first.
		var rows []string
		for tid := 104; tid > 100; tid-- {
			sec := at.Unix()
			if tid > 102 {
				sec++
			}
			rows = append(rows, fmt.Sprintf(`{"date":"%d","tid":"%d","price":"100","amount":"1","type":"0"}`, sec, tid))
		}
		body := []byte("[" + strings.Join(rows, ",") + "]")
		fake := exchangetest.FuncRequester(func(exchange.Request) ([]byte, error) { return body, nil })
		cursor := exchange.TradeCursor{ID: "102", Time: at}
		if tt.age == 0 {
			cursor = exchange.TradeCursor{}
		}
		pg, err := New(fake).TradesAfter(context.Background(), "BTC/USD", cursor, 0)
		require.NoError(t, err)
		require.Equal(t, "/api/v2/transactions/btcusd/?time="+tt.window, fake.Last().Path, "cursor %s old", tt.age)
		require.Equal(t, tt.lost, pg.Lost, "cursor %s old", tt.age)
		var ids []string
		for _, tr := range pg.Trades {
			ids = append(ids, tr.ID)
		}
		if tt.age == 0 {
			require.Equal(t, []string{"101", "102", "103", "104"}, ids)
		} else {
			require.Equal(t, []string{"103", "104"}, ids, "after tid 102, not 101 of the same second")
		}
	}
}
