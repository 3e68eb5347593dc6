package pgtest

import (
	"context"
	"testing"

	"github.com/mdingest/mdingest/internal/schema"
)

// MigratedDB is NewDB with the embedded migrations applied (plain
// PostgreSQL path: the test server has no timescaledb).
func MigratedDB(t testing.TB) string {
	t.Helper()
	url := NewDB(t)
	m, err := schema.Open(context.Background(), url, schema.ModeAuto, nil)
	if err != nil {
		t.Fatalf("pgtest: migrating: %v", err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatalf("pgtest: migrating: %v", err)
	}
	return url
}
