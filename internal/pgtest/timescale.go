package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mdingest/mdingest/internal/schema"
)

// EnvTimescaleURL names an existing server that preloads timescaledb (an
// admin URL, like MDINGEST_TEST_DATABASE_URL): when set, tests create their
// databases there instead of starting a private cluster.
const EnvTimescaleURL = "MDINGEST_TEST_TIMESCALEDB_URL"

// shared is the test binary's one TimescaleDB cluster, started on first use
// and stopped by Main.
var shared struct {
	once    sync.Once
	cluster *Cluster
	admin   string
	err     error
	main    bool // Main is in charge, so the cluster will be stopped
}

// Main runs the package's tests and then stops the shared TimescaleDB
// cluster, if one was started. Packages that call TimescaleDB need it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) { os.Exit(Wrap(m).Run()) }

// Wrap is Main for a TestMain that runs m through something else, such as
// goleak.VerifyTestMain(pgtest.Wrap(m)): its Run stops the cluster before
// returning.
func Wrap(m interface{ Run() int }) interface{ Run() int } {
	shared.main = true
	return wrapped{m}
}

type wrapped struct{ m interface{ Run() int } }

func (w wrapped) Run() int {
	code := w.m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Remove(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the TimescaleDB cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// TimescaleAdminURL returns the admin URL of the binary's TimescaleDB server:
// $MDINGEST_TEST_TIMESCALEDB_URL, else a private cluster with timescaledb
// preloaded, started on first use (one per test binary). A missing
// TimescaleDB fails the test with how to install it; it never skips.
func TimescaleAdminURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvTimescaleURL); u != "" {
		return u
	}
	if !shared.main {
		t.Fatal("pgtest: the TimescaleDB cluster is stopped by pgtest.Main: add `func TestMain(m *testing.M) { pgtest.Main(m) }` to the package")
	}
	shared.once.Do(func() {
		shared.cluster, shared.err = StartCluster(ClusterOptions{Timescale: true})
		if shared.err == nil {
			shared.admin = shared.cluster.URL("postgres")
		}
	})
	if shared.err != nil {
		t.Fatalf("pgtest: starting the TimescaleDB cluster: %v", shared.err)
	}
	return shared.admin
}

// TimescaleDB creates a fresh database on the binary's TimescaleDB server,
// drops it when the test ends, and returns its URL. The extension is not
// created: migrations (or the test) do that.
func TimescaleDB(t testing.TB) string {
	t.Helper()
	return newDBOn(t, TimescaleAdminURL(t))
}

// TimescaleMigratedDB is TimescaleDB with the embedded migrations applied,
// TimescaleDB variant required, and its policy jobs held (HoldPolicies).
func TimescaleMigratedDB(t testing.TB) string {
	t.Helper()
	url := TimescaleDB(t)
	migrateUp(t, url, schema.ModeOn)
	HoldPolicies(t, url)
	return url
}

// Backend is a database server a test can run on.
type Backend struct {
	Name    string // "postgres" or "timescaledb"
	Variant schema.Variant
	// NewDB returns a fresh database on this backend, migrated.
	MigratedDB func(testing.TB) string
}

// Backends are plain PostgreSQL and TimescaleDB, for tests that prove a
// promise on both.
var Backends = []Backend{
	{Name: "postgres", Variant: schema.Postgres, MigratedDB: MigratedDB},
	{Name: "timescaledb", Variant: schema.TimescaleDB, MigratedDB: TimescaleMigratedDB},
}

// NewCluster starts a private cluster owned by one test (one it may stop
// and start), removed when the test ends.
func NewCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := StartCluster(opts)
	if err != nil {
		t.Fatalf("pgtest: starting a cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: server log of %s:\n%s", c.dir, c.logTail())
		}
		if err := c.Remove(); err != nil {
			t.Errorf("pgtest: removing cluster: %v", err)
		}
	})
	return c
}

// CreateDB creates database name on the cluster.
func (c *Cluster) CreateDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// DropDB drops database name on the cluster, ending its sessions (and
// TimescaleDB's scheduler for it).
func (c *Cluster) DropDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// HoldPolicies stops TimescaleDB's policy jobs (compression, retention,
// aggregate refresh) in the database at url and waits out a run already
// started; on plain PostgreSQL it does nothing. Tests write rows of past
// years: the policies, due at once, would compress or drop chunks under a
// test's reads and counts. Tests of the policies run their jobs with
// CALL run_job, which works on held jobs.
func HoldPolicies(t testing.TB, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: holding policies: %v", err)
	}
	defer conn.Close(ctx)
	var timescale bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&timescale); err != nil {
		t.Fatalf("pgtest: holding policies: %v", err)
	}
	if !timescale {
		return
	}
	if _, err := conn.Exec(ctx, `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE job_id >= 1000`); err != nil {
		t.Fatalf("pgtest: holding policies: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var running int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.job_stats WHERE job_id >= 1000 AND job_status = 'Running'`).Scan(&running)
		if err == nil && running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: a policy job still running after a minute (%v)", err)
		}
	}
}
