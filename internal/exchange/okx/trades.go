package okx

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

// TradesAfter implements exchange.TradePager with /market/history-trades
// by trade id: ids are consecutive per instrument, so the window between
// the cursor and cursor+limit+1 (both exclusive) is the next page. A full
// window means more follow. An empty one is either the present (nothing
// new) or a stretch OKX no longer serves (history goes back three
// months): the newest trade tells which, and when trades exist past the
// cursor the latest ones are returned as Lost.
func (c *Connector) TradesAfter(ctx context.Context, symbol market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return exchange.TradePage{}, err
	}
	if after.IsZero() {
		ts, err := c.recentTrades(ctx, id, exchange.PageSize(limit, maxTrades))
		return exchange.TradePage{Trades: exchange.FinishTrades(ts, symbol, "", time.Time{}, 0)}, err
	}
	limit = exchange.PageSize(limit, maxHistoryTrades)
	cursor, err := strconv.ParseInt(after.ID, 10, 64)
	if err != nil {
		return exchange.TradePage{}, fmt.Errorf("okx trade id %q: %w", after.ID, exchange.ErrBadCursor)
	}
	const ep = "trades_history"
	q := url.Values{
		"instId": {id}, "type": {"1"}, "limit": {strconv.Itoa(limit)},
		"before": {after.ID}, "after": {strconv.FormatInt(cursor+int64(limit)+1, 10)},
	}
	ts, err := exchange.Fetch(ctx, &c.Base, ep, "/api/v5/market/history-trades", q, weightHistoryTrades, parseTrades)
	if err != nil {
		return exchange.TradePage{}, err
	}
	if len(ts) > 0 {
		exchange.SortTrades(ts)
		return exchange.TradePage{Trades: exchange.FinishTrades(ts, symbol, "", time.Time{}, 0), More: len(ts) >= limit}, nil
	}
	latest, err := c.recentTrades(ctx, id, maxTrades)
	if err != nil {
		return exchange.TradePage{}, err
	}
	var newer []market.Trade
	for _, t := range latest {
		if exchange.CompareTradeIDs(t.ID, after.ID) > 0 {
			newer = append(newer, t)
		}
	}
	exchange.SortTrades(newer)
	return exchange.TradePage{Trades: exchange.FinishTrades(newer, symbol, "", time.Time{}, 0), Lost: len(newer) > 0}, nil
}
