package coinbaseexchange

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

var _ exchange.TradePager = (*Connector)(nil)

// TradesAfter implements exchange.TradePager with /products/{id}/trades
// before=ID: Coinbase's "page before (newer)" is the page of trades right
// after that id, oldest of them first in id order. Trade ids are
// consecutive per product, so a page that does not start at the id after
// the cursor means Coinbase no longer serves the trades between.
func (c *Connector) TradesAfter(ctx context.Context, symbol market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	limit = exchange.PageSize(limit, maxTrades)
	if after.IsZero() {
		ts, err := c.Trades(ctx, symbol, time.Time{}, limit)
		exchange.SortTrades(ts)
		return exchange.TradePage{Trades: ts}, err
	}
	next, ok := exchange.NextTradeID(after.ID)
	if !ok {
		return exchange.TradePage{}, fmt.Errorf("coinbase trade id %q: %w", after.ID, exchange.ErrBadCursor)
	}
	id, ts, err := c.trades(ctx, symbol, url.Values{"before": {after.ID}, "limit": {strconv.Itoa(limit)}})
	if err != nil {
		return exchange.TradePage{}, err
	}
	return exchange.IDPage(exchange.FinishTrades(ts, symbol, id, time.Time{}, 0), next, limit), nil
}
