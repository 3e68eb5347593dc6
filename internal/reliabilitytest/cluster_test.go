package reliabilitytest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

// EnvPGBin overrides where initdb and pg_ctl are found.
const EnvPGBin = "MDINGEST_TEST_PG_BIN"

// cluster is a PostgreSQL server owned by one test.
type cluster struct {
	t    *testing.T
	bin  string
	dir  string
	data string
	port int
	cred *syscall.Credential // run as this user when we are root
}

func pgBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv(EnvPGBin); b != "" {
		return b
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		t.Fatalf("PostgreSQL server binaries not found: install postgresql or set %s", EnvPGBin)
	}
	return filepath.Dir(matches[len(matches)-1])
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newCluster initialises and starts a cluster with trust authentication
// and a database "mdingest", migrated; it is stopped and removed when the
// test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "mdingest-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &cluster{t: t, bin: pgBin(t), dir: dir, data: filepath.Join(dir, "data"), port: freePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "running as root needs a postgres user to run the cluster")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.start()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
			c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
		}
	})

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE mdingest")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	m, err := schema.Open(ctx, c.url("mdingest"), schema.ModeAuto, nil)
	require.NoError(t, err)
	require.NoError(t, m.Up())
	require.NoError(t, m.Close())
	return c
}

func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(c.t, err, "%s: %s", name, out)
}

// start starts the server and waits until it accepts connections. fsync
// is off: these tests kill the ingester, never the server.
func (c *cluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "+
		"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50", c.port)
	c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
}

// stop shuts the server down the way an operator's restart does: active
// connections are cut.
func (c *cluster) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "stop")
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", c.port, db)
}

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

func count(t *testing.T, st *store.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, st.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
