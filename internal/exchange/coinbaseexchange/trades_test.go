package coinbaseexchange

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	req := func(path string) exchange.Request { return exchange.Request{Endpoint: "trades", Path: path, Weight: 1} }
	exchangetest.TradePages(t, func(r exchange.Requester) exchange.TradePager { return New(r) }, "BTC/USD", exchange.TradeCursor{ID: "100"}, trades, []exchangetest.PageCase{
		{Name: "the next page", From: 101, N: 4, Want: req("/products/BTC-USD/trades?before=100&limit=1000")},
		{Name: "a full page", From: 101, N: 4, Limit: 4, Want: req("/products/BTC-USD/trades?before=100&limit=4"), More: true},
		{Name: "ids past the cursor's next", From: 120, N: 2, Want: req("/products/BTC-USD/trades?before=100&limit=1000"), Lost: true},
	})
}
