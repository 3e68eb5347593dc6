// Package schema applies the embedded migrations with golang-migrate. It
// picks the TimescaleDB or the plain-PostgreSQL variant of the time-series
// migrations by what the database offers.
package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mdingest/mdingest/migrations"
)

// Variant names a set of time-series migrations.
type Variant string

// The variants.
const (
	Postgres    Variant = "postgres"
	TimescaleDB Variant = "timescaledb"
)

// Mode says whether to use TimescaleDB: "auto" uses it when the extension
// can be created, "on" requires it, "off" never uses it.
type Mode string

// The modes.
const (
	ModeAuto Mode = "auto"
	ModeOn   Mode = "on"
	ModeOff  Mode = "off"
)

// Errors.
var (
	ErrTimescaleRequired = errors.New("timescaledb required (store.timescaledb: on) but the extension cannot be created")
	ErrDirty             = errors.New("database is dirty: a migration failed half-way; fix it, then `mdingest migrate force V`")
)

// Migrator applies migrations to one database.
type Migrator struct {
	m       *migrate.Migrate
	db      *sql.DB
	variant Variant
}

// Open connects to url and prepares the migrations of the variant the
// database supports. Close it when done.
func Open(ctx context.Context, url string, mode Mode, logger *slog.Logger) (*Migrator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to database: %w", err)
	}
	variant, err := detect(ctx, db, mode, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	src, err := iofs.New(overlay{migrations.FS, string(variant)}, ".")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing migrations: %w", err)
	}
	return &Migrator{m: m, db: db, variant: variant}, nil
}

// detect chooses the variant: a database that already has the extension
// keeps using it; otherwise it is created when the mode allows.
func detect(ctx context.Context, db *sql.DB, mode Mode, logger *slog.Logger) (Variant, error) {
	if mode == ModeOff {
		return Postgres, nil
	}
	var installed bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&installed); err != nil {
		return "", fmt.Errorf("checking for timescaledb: %w", err)
	}
	if installed {
		return TimescaleDB, nil
	}
	var available bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&available); err != nil {
		return "", fmt.Errorf("checking for timescaledb: %w", err)
	}
	if available {
		// Without the preload, CREATE EXTENSION ends the session with a FATAL.
		// Only privileged roles may read shared_preload_libraries, but any
		// role sees the settings the preloaded loader defines (pg_settings
		// lists no mere placeholders).
		var preloaded bool
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers')`).Scan(&preloaded); err != nil {
			return "", fmt.Errorf("checking whether timescaledb is preloaded: %w", err)
		}
		if !preloaded {
			if mode == ModeOn {
				return "", fmt.Errorf("%w: the extension is installed but not in shared_preload_libraries", ErrTimescaleRequired)
			}
			logger.Warn("timescaledb is installed but not preloaded (shared_preload_libraries); using plain PostgreSQL")
			return Postgres, nil
		}
		_, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS timescaledb`)
		if err == nil {
			return TimescaleDB, nil
		}
		if mode == ModeOn {
			return "", fmt.Errorf("%w: %w", ErrTimescaleRequired, err)
		}
		logger.Warn("timescaledb is available but could not be created; using plain PostgreSQL", "err", err)
		return Postgres, nil
	}
	if mode == ModeOn {
		return "", ErrTimescaleRequired
	}
	return Postgres, nil
}

// Variant is the set of time-series migrations in use.
func (m *Migrator) Variant() Variant { return m.variant }

// Up applies every pending migration. No change is success.
func (m *Migrator) Up() error {
	if err := m.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrating up: %w", err)
	}
	return nil
}

// Down rolls back n migrations (all when n <= 0).
func (m *Migrator) Down(n int) error {
	var err error
	if n <= 0 {
		err = m.m.Down()
	} else {
		err = m.m.Steps(-n)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrating down: %w", err)
	}
	return nil
}

// To migrates up or down to version v. No change is success.
func (m *Migrator) To(v uint) error {
	if err := m.m.Migrate(v); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrating to version %d: %w", v, err)
	}
	return nil
}

// Force sets the version without running migrations, to recover a dirty
// database.
func (m *Migrator) Force(v int) error {
	if err := m.m.Force(v); err != nil {
		return fmt.Errorf("forcing version %d: %w", v, err)
	}
	return nil
}

// Version returns the applied version (0 when none) and whether it is dirty.
func (m *Migrator) Version() (uint, bool, error) {
	v, dirty, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading version: %w", err)
	}
	return v, dirty, nil
}

// Close releases the connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr)
}

// Latest is the highest migration version embedded in this binary.
func Latest() (uint, error) {
	entries, err := fs.ReadDir(overlay{migrations.FS, string(Postgres)}, ".")
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// overlay shows the top-level migrations plus those of one variant
// directory as a single flat directory, the shape golang-migrate reads.
type overlay struct {
	base    fs.FS
	variant string
}

func (o overlay) Open(name string) (fs.File, error) {
	if name != "." {
		if f, err := o.base.Open(path.Join(o.variant, name)); err == nil {
			return f, nil
		}
	}
	return o.base.Open(name)
}

func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for _, dir := range []string{".", o.variant} {
		entries, err := fs.ReadDir(o.base, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
				out = append(out, e)
			}
		}
	}
	return out, nil
}
