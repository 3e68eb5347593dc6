package reliabilitytest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

// cluster is a PostgreSQL server owned by one test, which it may stop and
// start: plain PostgreSQL, or with TimescaleDB preloaded.
type cluster struct {
	t *testing.T
	*pgtest.Cluster
}

// backends are the servers each reliability promise is proved on.
var backends = []struct {
	name      string
	timescale bool
}{
	{"postgres", false},
	{"timescaledb", true},
}

// onBothBackends runs fn as a subtest per backend.
func onBothBackends(t *testing.T, fn func(t *testing.T, timescale bool)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.timescale) })
	}
}

// newCluster initialises and starts a cluster with a database "mdingest",
// migrated (the TimescaleDB variant when timescale); it is stopped and
// removed when the test ends.
func newCluster(t *testing.T, timescale bool) *cluster {
	t.Helper()
	c := &cluster{t: t, Cluster: pgtest.NewCluster(t, pgtest.ClusterOptions{Timescale: timescale})}
	ctx := context.Background()
	require.NoError(t, c.CreateDB(ctx, "mdingest"))
	mode := schema.ModeOff
	if timescale {
		mode = schema.ModeOn
	}
	m, err := schema.Open(ctx, c.url("mdingest"), mode, nil)
	require.NoError(t, err)
	require.NoError(t, m.Up())
	require.NoError(t, m.Close())
	// The tests write rows of 2024: the policies would drop or compress
	// them under the counts whenever a restart makes their runs due (seen
	// once: 295 candles short).
	pgtest.HoldPolicies(t, c.url("mdingest"))
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	require.NoError(c.t, c.Start())
}

// stop shuts the server down the way an operator's restart does: active
// connections are cut.
func (c *cluster) stop() {
	c.t.Helper()
	require.NoError(c.t, c.Stop())
}

func (c *cluster) url(db string) string { return c.URL(db) }

// openStore connects a store to the cluster's database.
func (c *cluster) openStore(t *testing.T) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, c.url("mdingest"), store.Options{MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// db opens the test's own pool on the cluster's database, to look at what
// was stored.
func (c *cluster) db(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.Pool(t, c.url("mdingest"))
}

func count(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
