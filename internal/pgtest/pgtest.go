// Package pgtest gives tests real services: a fresh PostgreSQL database per
// test, Redis, and a private PostgreSQL cluster with the real TimescaleDB
// extension preloaded (one per test binary, a fresh database per test). It
// is imported only from _test.go files.
//
// A service that cannot be reached fails the test (it never skips): CI must
// go red when a service is missing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that point the helpers at other services.
const (
	EnvDatabaseURL = "MDINGEST_TEST_DATABASE_URL"
	EnvRedisURL    = "MDINGEST_TEST_REDIS_URL"
)

const (
	defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// dbPrefix marks databases made by this package, so leftovers from killed
	// runs are recognisable (and droppable) by name.
	dbPrefix = "mdingest_test_"
	// connectTimeout bounds every connection attempt to a local service.
	connectTimeout = 10 * time.Second
)

// AdminURL is the URL of a PostgreSQL superuser connection used to create and
// drop test databases: $MDINGEST_TEST_DATABASE_URL, else the local default.
func AdminURL() string {
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		return u
	}
	return defaultAdminURL
}

// NewDB creates a fresh, uniquely named database on the PostgreSQL server of
// AdminURL, drops it (WITH (FORCE), so open connections don't block) when the
// test ends, and returns its URL.
func NewDB(t testing.TB) string {
	t.Helper()
	return newDBOn(t, AdminURL())
}

// newDBOn creates a fresh database on the server of admin, dropped when the
// test ends.
func newDBOn(t testing.TB, admin string) string {
	t.Helper()
	name := dbName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL is unreachable at %s (set %s or start PostgreSQL): %v", redact(admin), envFor(admin), err)
	}
	defer conn.Close(context.Background())

	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := dropDB(admin, ident); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})

	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dbURL
}

func envFor(admin string) string {
	if admin == os.Getenv(EnvTimescaleURL) {
		return EnvTimescaleURL
	}
	return EnvDatabaseURL
}

func dropDB(admin, ident string) error {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping: %w", err)
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName builds a name that is unique across parallel test binaries and still
// tells which test made it; PostgreSQL truncates identifiers at 63 bytes, so
// the random suffix goes last and the test part is cut to fit.
func dbName(testName string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	suffix := "_" + hex.EncodeToString(b[:])
	part := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if limit := 63 - len(dbPrefix) - len(suffix); len(part) > limit {
		part = part[:limit]
	}
	return dbPrefix + part + suffix
}

// withDatabase returns admin with its database replaced by name. Both URL and
// keyword/value connection strings are accepted.
func withDatabase(admin, name string) (string, error) {
	if !strings.HasPrefix(admin, "postgres://") && !strings.HasPrefix(admin, "postgresql://") {
		// In keyword/value strings a later keyword overrides an earlier one.
		return admin + " dbname=" + name, nil
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact hides a password in a URL for messages; other strings pass unchanged
// unless they carry a password keyword, which is then hidden whole.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if strings.Contains(s, "password") {
		return "(connection string with password)"
	}
	return s
}
