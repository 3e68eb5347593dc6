package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// QueryRower is what CompressChunks needs of a pgx connection or pool.
type QueryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CompressChunks compresses every chunk of a TimescaleDB hypertable (rows
// written into a compressed chunk since are compressed too), checks that
// every row now lies in compressed form, and returns how many chunks there
// are: a test's later writes then meet compressed data.
func CompressChunks(t testing.TB, db QueryRower, hypertable string) int {
	t.Helper()
	ctx := context.Background()
	var n, partial int
	if err := db.QueryRow(ctx, `SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks($1::regclass) c`,
		hypertable).Scan(&n); err != nil {
		t.Fatalf("pgtest: compressing %s: %v", hypertable, err)
	}
	// Status 1 is compressed, and not partially (9), unordered or frozen.
	if err := db.QueryRow(ctx, `SELECT count(*) FROM show_chunks($1::regclass) c WHERE _timescaledb_functions.chunk_status(c) <> 1`,
		hypertable).Scan(&partial); err != nil {
		t.Fatalf("pgtest: reading the chunk status of %s: %v", hypertable, err)
	}
	if partial > 0 {
		t.Fatalf("pgtest: %d of %d chunks of %s are not wholly compressed", partial, n, hypertable)
	}
	return n
}
