package bitstamp

import (
	"context"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// Bitstamp's transaction windows and how old a cursor each one covers,
// with a margin for the clocks' disagreement and the request's time.
var windows = []struct {
	name   string
	covers time.Duration
}{
	{"minute", 45 * time.Second},
	{"hour", 55 * time.Minute},
	{"day", 23 * time.Hour},
}

var _ exchange.TradePager = (*Connector)(nil)

// TradesAfter implements exchange.TradePager with Bitstamp's time
// windows: the smallest of minute, hour and day that reaches back to the
// cursor, every trade of it after the cursor (tids increase). A cursor
// older than a day is past what Bitstamp serves: the page is Lost.
func (c *Connector) TradesAfter(ctx context.Context, symbol market.Symbol, after exchange.TradeCursor, _ int) (exchange.TradePage, error) {
	window, lost := "minute", false
	if !after.IsZero() {
		age := time.Since(after.Time)
		window, lost = "day", true
		for _, w := range windows {
			if age < w.covers {
				window, lost = w.name, false
				break
			}
		}
	}
	id, ts, err := c.transactions(ctx, symbol, window)
	if err != nil {
		return exchange.TradePage{}, err
	}
	ts = exchange.FinishTrades(ts, symbol, id, time.Time{}, 0)
	return exchange.TradePage{Trades: after.Newer(ts), Lost: lost}, nil
}
