package store

import "github.com/jackc/pgx/v5/pgxpool"

// Pool lets the store's own tests look at the database through its pool;
// every other package's query is a method of the store (other packages'
// tests open their own, pgtest.Pool).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// RegisterDecimal lets tests build a pool of their own (with a tracer that
// shows which load path ran) and wrap it with New.
var RegisterDecimal = registerDecimal
