package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool opens a pool on the database at url for a test to look at what was
// stored, or to change it behind the code under test, which owns its own
// connections; closed when the test ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: opening a pool on %s: %v", redact(url), err)
	}
	t.Cleanup(pool.Close)
	return pool
}
