// Package warehousetest checks the warehouse's user-facing surface against
// real databases: the queries and views of sql/, the Grafana dashboards and
// provisioning of deploy/grafana, docker-compose.yml and the notebook
// example. Every check runs on plain PostgreSQL and on TimescaleDB, over a
// migrated database into which the product's loader wrote a small known
// dataset.
package warehousetest

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
)

// backend is one database server the warehouse must work on.
type backend struct {
	name    string
	url     func(testing.TB) string
	variant schema.Variant
}

var backends = []backend{
	{"postgres", pgtest.NewDB, schema.Postgres},
	{"timescaledb", pgtest.TimescaleDB, schema.TimescaleDB},
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestWarehouse seeds one database per backend through the product's
// loader and runs every check on it, each on its own session.
func TestWarehouse(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			migrate(t, url, b.variant)
			d := newDataset()
			seed(t, url, d)

			t.Run("sql", func(t *testing.T) { t.Parallel(); checkSQLFiles(t, connect(t, url), d) })
			t.Run("views", func(t *testing.T) { t.Parallel(); checkViews(t, connect(t, url), d) })
			t.Run("grafana", func(t *testing.T) {
				t.Parallel()
				checkDashboards(t, connect(t, url), d, b.variant == schema.TimescaleDB)
			})
			t.Run("notebook", func(t *testing.T) { t.Parallel(); checkNotebook(t, url) })
		})
	}
}

func migrate(t *testing.T, url string, want schema.Variant) {
	t.Helper()
	m, err := schema.Open(context.Background(), url, schema.ModeAuto, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	require.Equal(t, want, m.Variant())
	require.NoError(t, m.Up())
}

// connect opens a connection for a check, with UTC as the session time
// zone so timestamps read back in a known form.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "SET TimeZone = 'UTC'")
	require.NoError(t, err)
	return conn
}

// repoRoot is the module root: this package sits two levels below it.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root not found from the package directory")
	return root
}

// result is one statement's rows in text form, by column name; a NULL is a
// nil pointer.
type result struct {
	columns []string
	rows    []map[string]*string
}

// execAll sends sql as one simple-protocol message, as psql and Grafana do,
// and returns the result of each statement that produced rows.
func execAll(t *testing.T, conn *pgx.Conn, sql string) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	require.NoError(t, err, "executing:\n%s", sql)
	var out []result
	for _, r := range res {
		if len(r.FieldDescriptions) == 0 {
			continue
		}
		out = append(out, toResult(r))
	}
	return out
}

func toResult(r *pgconn.Result) result {
	var res result
	for _, fd := range r.FieldDescriptions {
		res.columns = append(res.columns, fd.Name)
	}
	for _, row := range r.Rows {
		m := make(map[string]*string, len(row))
		for i, v := range row {
			if v != nil {
				s := string(v)
				m[res.columns[i]] = &s
			}
		}
		res.rows = append(res.rows, m)
	}
	return res
}

// get returns a non-NULL column value of row.
func get(t *testing.T, row map[string]*string, col string) string {
	t.Helper()
	v, ok := row[col]
	require.True(t, ok && v != nil, "column %s is NULL or missing in %v", col, row)
	return *v
}

// requireNum checks a numeric text value equals want exactly.
func requireNum(t *testing.T, want string, got string, msg ...any) {
	t.Helper()
	g, ok := new(big.Rat).SetString(got)
	require.True(t, ok, "not a number: %q", got)
	require.Zero(t, rat(want).Cmp(g), "want %s, got %s %v", want, got, msg)
}

// requireNear checks a numeric text value is within 1e-9 of want.
func requireNear(t *testing.T, want *big.Rat, got string, msg ...any) {
	t.Helper()
	g, ok := new(big.Rat).SetString(got)
	require.True(t, ok, "not a number: %q", got)
	diff := new(big.Rat).Abs(new(big.Rat).Sub(g, want))
	require.Negative(t, diff.Cmp(big.NewRat(1, 1_000_000_000)), "want %s, got %s %v", want.FloatString(12), got, msg)
}

// requireTime checks a timestamptz text value (session time zone UTC).
func requireTime(t *testing.T, want time.Time, got string, msg ...any) {
	t.Helper()
	g, err := time.Parse("2006-01-02 15:04:05.999999-07", got)
	require.NoError(t, err)
	require.True(t, want.Equal(g), "want %s, got %s %v", want.UTC(), got, msg)
}
