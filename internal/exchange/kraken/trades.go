package kraken

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// sinceMargin is how far before the cursor's time a page is asked from:
// the time Kraken prints may be rounded, and trades up to the cursor are
// dropped by id anyway.
const sinceMargin = time.Millisecond

var _ exchange.TradePager = (*Connector)(nil)

// TradesAfter implements exchange.TradePager with Trades since, in
// nanoseconds as Kraken's own "last" cursor. Kraken keeps its whole
// history, so nothing is ever lost; a full page (count) means more follow.
func (c *Connector) TradesAfter(ctx context.Context, symbol market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	limit = exchange.PageSize(limit, maxTrades)
	if after.IsZero() {
		ts, err := c.Trades(ctx, symbol, time.Time{}, limit)
		return exchange.TradePage{Trades: ts}, err
	}
	since := after.Time.Add(-sinceMargin).UnixNano()
	id, ts, err := c.trades(ctx, symbol, url.Values{"since": {strconv.FormatInt(since, 10)}, "count": {strconv.Itoa(limit)}})
	if err != nil {
		return exchange.TradePage{}, err
	}
	more := len(ts) >= limit
	ts = exchange.FinishTrades(ts, symbol, id, time.Time{}, 0)
	return exchange.TradePage{Trades: after.Newer(ts), More: more}, nil
}
