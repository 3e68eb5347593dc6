package schema

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Tables maps the table names used in configuration to their relations.
var Tables = map[string]string{
	"candles": "market.candles", "tickers": "market.tickers", "order_books": "market.order_books",
	"trades": "market.trades", "request_metrics": "ops.request_metrics", "quality_reports": "ops.quality_reports",
	"rejected_rows": "ops.rejected_rows", "job_runs": "ops.job_runs",
}

// Policies are the configured ages per table; zero removes the policy.
type Policies struct {
	Retention     map[string]time.Duration
	CompressAfter map[string]time.Duration
}

// ApplyPolicies sets TimescaleDB's retention and compression policies to
// the configured ages, replacing the migration's defaults. On plain
// PostgreSQL there are no policies: retention runs through
// ops.apply_retention, run from cron or psql. It opens its
// own connection: the migrator's is held by golang-migrate.
func ApplyPolicies(ctx context.Context, url string, p Policies) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parsing database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var installed bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&installed); err != nil {
		return fmt.Errorf("checking for timescaledb: %w", err)
	}
	if !installed {
		return nil
	}
	m := struct{ db *sql.DB }{db}
	for name, age := range p.Retention {
		rel, ok := Tables[name]
		if !ok {
			return fmt.Errorf("retention: unknown table %q", name)
		}
		if _, err := m.db.ExecContext(ctx, `SELECT remove_retention_policy($1::regclass, if_exists => true)`, rel); err != nil {
			return fmt.Errorf("removing retention policy of %s: %w", rel, err)
		}
		if age > 0 {
			if _, err := m.db.ExecContext(ctx, `SELECT add_retention_policy($1::regclass, make_interval(days => $2, secs => $3))`, rel, days(age), rest(age)); err != nil {
				return fmt.Errorf("adding retention policy of %s: %w", rel, err)
			}
		}
	}
	for name, age := range p.CompressAfter {
		rel, ok := Tables[name]
		if !ok {
			return fmt.Errorf("compression: unknown table %q", name)
		}
		var compressible bool
		if err := m.db.QueryRowContext(ctx, `SELECT coalesce(bool_or(compression_enabled), false) FROM timescaledb_information.hypertables
			WHERE format('%I.%I', hypertable_schema, hypertable_name)::regclass = $1::regclass`, rel).Scan(&compressible); err != nil {
			return fmt.Errorf("checking compression of %s: %w", rel, err)
		}
		if !compressible {
			continue // ops tables other than request_metrics are small: not compressed
		}
		if _, err := m.db.ExecContext(ctx, `SELECT remove_compression_policy($1::regclass, if_exists => true)`, rel); err != nil {
			return fmt.Errorf("removing compression policy of %s: %w", rel, err)
		}
		if age > 0 {
			if _, err := m.db.ExecContext(ctx, `SELECT add_compression_policy($1::regclass, make_interval(days => $2, secs => $3))`, rel, days(age), rest(age)); err != nil {
				return fmt.Errorf("adding compression policy of %s: %w", rel, err)
			}
		}
	}
	return nil
}

// days and rest split an age so that PostgreSQL shows "30 days", not "720:00:00".
func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

func rest(d time.Duration) float64 { return (d % (24 * time.Hour)).Seconds() }
