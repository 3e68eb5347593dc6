package store

import (
	"context"
	"fmt"

	"github.com/mdingest/mdingest/internal/market"
)

// KnownSymbol reports whether the database knows symbol on exchange: in
// the exchange's market list (market.symbols) or among its candles.
func (s *Store) KnownSymbol(ctx context.Context, exchange string, symbol market.Symbol) (bool, error) {
	var known bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM market.symbols WHERE exchange = $1 AND symbol = $2)
		OR EXISTS (SELECT 1 FROM market.candles WHERE exchange = $1 AND symbol = $2)`, exchange, string(symbol)).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("looking up %s %s: %w", exchange, symbol, err)
	}
	return known, nil
}
