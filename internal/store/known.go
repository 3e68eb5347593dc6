package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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

// ListedSymbols returns the symbols of exchange's active markets in its
// market list (market.symbols), sorted: what a symbol pattern such as
// '*/USDT' is matched against.
func (s *Store) ListedSymbols(ctx context.Context, exchange string) ([]market.Symbol, error) {
	rows, err := s.pool.Query(ctx, `SELECT symbol FROM market.symbols WHERE exchange = $1 AND active ORDER BY symbol`, exchange)
	if err != nil {
		return nil, fmt.Errorf("listing the markets of %s: %w", exchange, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[market.Symbol])
	if err != nil {
		return nil, fmt.Errorf("listing the markets of %s: %w", exchange, err)
	}
	return out, nil
}
