package pgtest

import (
	"context"
	"testing"

	"github.com/mdingest/mdingest/internal/schema"
)

// MigratedDB is NewDB with the embedded migrations applied: the plain
// PostgreSQL variant (the shared server does not preload timescaledb).
func MigratedDB(t testing.TB) string {
	t.Helper()
	url := NewDB(t)
	migrateUp(t, url, schema.ModeOff)
	return url
}

func migrateUp(t testing.TB, url string, mode schema.Mode) {
	t.Helper()
	m, err := schema.Open(context.Background(), url, mode, nil)
	if err != nil {
		t.Fatalf("pgtest: migrating: %v", err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatalf("pgtest: migrating: %v", err)
	}
}
