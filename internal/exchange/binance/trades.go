package binance

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

// TradesAfter implements exchange.TradePager with aggTrades fromId.
// Aggregate trade ids are consecutive per symbol, so a page asked from the
// id after the cursor starts with exactly that id; one that starts later
// means Binance no longer has the trades between.
func (c *Connector) TradesAfter(ctx context.Context, symbol market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	limit = exchange.PageSize(limit, maxTrades)
	if after.IsZero() {
		ts, err := c.Trades(ctx, symbol, time.Time{}, limit)
		return exchange.TradePage{Trades: ts}, err
	}
	next, ok := exchange.NextTradeID(after.ID)
	if !ok {
		return exchange.TradePage{}, fmt.Errorf("binance aggregate trade id %q: %w", after.ID, exchange.ErrBadCursor)
	}
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return exchange.TradePage{}, err
	}
	q := url.Values{"symbol": {id}, "fromId": {next}, "limit": {strconv.Itoa(limit)}}
	ts, err := exchange.Fetch(ctx, &c.Base, "aggTrades", "/api/v3/aggTrades", q, 4, ParseTrades)
	if err != nil {
		return exchange.TradePage{}, err
	}
	return exchange.IDPage(exchange.FinishTrades(ts, symbol, id, time.Time{}, 0), next, limit), nil
}
