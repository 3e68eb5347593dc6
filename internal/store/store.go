// Package store writes normalised market data and the ops tables into
// PostgreSQL (with or without TimescaleDB) through one generic, idempotent
// COPY loader, and reads back what the CLI and server need.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/tables"
)

// Store is safe for concurrent use: each load runs in its own transaction
// on a pooled connection, and merges insert in key order so concurrent
// loads of overlapping keys cannot deadlock.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	now    func() time.Time

	// copies bounds the COPYs into market tables running at once (see
	// copySlots); set on first use.
	copiesOnce sync.Once
	copies     chan struct{}
	// chunks are the chunk ranges of the hypertables partitioned by time
	// alone, by schema.name; set with copies.
	chunks map[string]*chunkRanges
}

// Options tune Open.
type Options struct {
	MaxConns int32 // 0: pgx's default
	Logger   *slog.Logger
	// Lazy opens the pool without waiting for the database to answer: the
	// daemon starts (and spools) while it is down.
	Lazy bool
}

// Open connects a pool to url and checks that the database answers
// (unless Lazy).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.AfterConnect = registerDecimal
	// The merge statements cost more to JIT-compile than to run.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating pool: %w", err)
	}
	if opts.Lazy {
		return New(pool, opts.Logger), nil
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to database: %w", err)
	}
	s := New(pool, opts.Logger)
	s.copySlots(ctx)
	return s, nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, logger: logger.With("component", "store"), now: time.Now}
}

// Migrated says whether the schema's tables exist, so that a missing
// `mdingest migrate up` can be named instead of surfacing as "relation does
// not exist".
func (s *Store) Migrated(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('market.candles') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("checking schema: %w", err)
	}
	return ok, nil
}

// SchemaVersion is the migration the database is at, as golang-migrate
// records it in schema_migrations.
func (s *Store) SchemaVersion(ctx context.Context) (version uint, dirty bool, err error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&v, &dirty); err != nil {
		return 0, false, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return uint(v), dirty, nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Candles stores candles. Closed candles never change once stored; an open
// one is replaced by a later fetch whose values differ. A closed candle
// that comes again closed with other values is a conflict: the stored one
// stays, and both versions go to ops.rejected_rows with code "conflict".
func (s *Store) Candles(ctx context.Context, rows []market.Candle) (Result, error) {
	return load(ctx, s, candles, rows)
}

// Tickers stores ticker snapshots.
func (s *Store) Tickers(ctx context.Context, rows []market.Ticker) (Result, error) {
	return load(ctx, s, tickers, rows)
}

// OrderBooks stores order-book snapshots.
func (s *Store) OrderBooks(ctx context.Context, rows []market.OrderBook) (Result, error) {
	return load(ctx, s, orderBooks, rows)
}

// Trades stores trades. A trade stored before with another price, amount
// or side is a conflict, as for closed candles.
func (s *Store) Trades(ctx context.Context, rows []market.Trade) (Result, error) {
	return load(ctx, s, trades, rows)
}

// Markets stores an exchange's market list, updating rows that changed.
func (s *Store) Markets(ctx context.Context, rows []market.Market) (Result, error) {
	return load(ctx, s, symbols, rows)
}

// RequestMetrics stores request records. Rows without an ID get one, in
// place, so that writing the same slice again stays idempotent.
func (s *Store) RequestMetrics(ctx context.Context, rows []ops.RequestMetric) (Result, error) {
	tables.RequestMetrics.Rows(rows).AssignIDs(s.now())
	return load(ctx, s, requestMetrics, rows)
}

// QualityReports stores batch reports (IDs assigned in place).
func (s *Store) QualityReports(ctx context.Context, rows []ops.QualityReport) (Result, error) {
	tables.QualityReports.Rows(rows).AssignIDs(s.now())
	return load(ctx, s, qualityReports, rows)
}

// RejectedRows stores rejected rows (IDs, missing times and codes assigned
// in place).
func (s *Store) RejectedRows(ctx context.Context, rows []ops.RejectedRow) (Result, error) {
	tables.RejectedRows.Rows(rows).AssignIDs(s.now())
	for i := range rows {
		if rows[i].Code == "" {
			rows[i].Code = ops.CodeFor(rows[i].Source)
		}
	}
	return load(ctx, s, rejectedRows, rows)
}

// JobRuns stores job runs (IDs assigned in place).
func (s *Store) JobRuns(ctx context.Context, rows []ops.JobRun) (Result, error) {
	tables.JobRuns.Rows(rows).AssignIDs(s.now())
	return load(ctx, s, jobRuns, rows)
}

// MarketSymbol returns the unified symbol of an exchange's market id (its
// exchange_symbol), from the market list the daemon stored.
func (s *Store) MarketSymbol(ctx context.Context, exchange, id string) (market.Symbol, bool, error) {
	var sym string
	err := s.pool.QueryRow(ctx, `SELECT symbol FROM market.symbols WHERE exchange = $1 AND exchange_symbol = $2 ORDER BY active DESC LIMIT 1`,
		exchange, id).Scan(&sym)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("looking up market %s on %s: %w", id, exchange, err)
	}
	return market.Symbol(sym), true, nil
}

// BulkBatchRows is how many rows a bulk load (an import) should hand to
// each call. On TimescaleDB a batch is loaded in parts of partRows anyway,
// and larger batches only cost the client memory, every page of which is
// first touched through a page fault. On plain PostgreSQL the COPYs take
// turns (copySlots), so each batch's probe, commits and change of
// connection are on the one stream's path: batches three times larger
// cost the server 7% less CPU for the same rows (2.2 against 2.35
// core-seconds per million, BenchmarkLoad1M/postgres).
func (s *Store) BulkBatchRows(ctx context.Context) int {
	if cap(s.copySlots(ctx)) > 1 {
		return partRows
	}
	return 50_000
}

// CandleRange is market.candles' chunk time range of a time, for a bulk
// load to end its batches where it changes (importer.Options.Range); nil
// unless the table is a hypertable partitioned by time alone.
func (s *Store) CandleRange(ctx context.Context) func(time.Time) int64 {
	s.copySlots(ctx) // reads the ranges
	if c := s.chunksOf(candles.name); c != nil {
		return c.of
	}
	return nil
}

// copySlots is how many COPYs into the market tables run at once. One
// stream inserting in key order appends to the indexes' rightmost pages,
// which PostgreSQL fills before splitting; two streams into one index
// split each other's pages in half and cost the server a third more for
// the same rows. So on plain PostgreSQL they take turns (probes, commits
// and the client's own work still overlap). On TimescaleDB each chunk has
// its own indexes and one backend cannot keep up with the hypertable's
// per-row work, so two run at once.
func (s *Store) copySlots(ctx context.Context) chan struct{} {
	s.copiesOnce.Do(func() {
		n := 1
		var timescale bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&timescale)
		if err == nil && timescale {
			n = 2
			if s.chunks, err = hypertableRanges(ctx, s.pool); err != nil {
				s.logger.Warn("reading the hypertables' chunk intervals; loads will not open chunks apart", "err", err)
			}
		}
		s.copies = make(chan struct{}, n)
	})
	return s.copies
}
