package pgtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// fatalTB records the first Fatal and ends the goroutine like testing.T does.
type fatalTB struct {
	testing.TB
	mu       sync.Mutex
	msg      string
	cleanups []func()
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Name() string { return "FatalTB" }

func (f *fatalTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// runFatal runs fn with a fatalTB in its own goroutine and returns the Fatal
// message ("" if fn returned normally) and the number of cleanups registered.
func runFatal(t *testing.T, fn func(tb testing.TB)) (string, int) {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg, len(f.cleanups)
}

func TestNewDBCreatesAndDrops(t *testing.T) {
	ctx := context.Background()
	var dbURL string
	var leftOpen *pgx.Conn
	t.Run("inner", func(t *testing.T) {
		dbURL = NewDB(t)
		conn, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)

		var name string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		require.True(t, strings.HasPrefix(name, dbPrefix+"testnewdbcreatesanddrops_inner_"), name)

		var tables int
		require.NoError(t, conn.QueryRow(ctx,
			"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))
		require.Zero(t, tables, "a new database starts empty")

		_, err = conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, v text)")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 1, "one")
		require.NoError(t, err)
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM t WHERE id = $1", 1).Scan(&v))
		require.Equal(t, "one", v)
		// Left open on purpose: the drop must not wait for it.
		leftOpen = conn
	})
	defer leftOpen.Close(ctx)

	admin, err := pgx.Connect(ctx, AdminURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := dbURL[strings.LastIndex(dbURL, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	var n int
	require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	require.Zero(t, n, "database %s must be dropped after the test", name)
	require.Error(t, leftOpen.Ping(ctx), "the open connection was ended by DROP ... WITH (FORCE)")
}

func TestNewDBIsolated(t *testing.T) {
	a, b := NewDB(t), NewDB(t)
	require.NotEqual(t, a, b)
}

func TestUnreachableServicesFail(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		url     string
		call    func(testing.TB)
		wantMsg []string
	}{
		{
			name:    "postgres",
			env:     EnvDatabaseURL,
			url:     "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5",
			call:    func(tb testing.TB) { NewDB(tb) },
			wantMsg: []string{"PostgreSQL is unreachable", "127.0.0.1:1", EnvDatabaseURL},
		},
		{
			name:    "redis",
			env:     EnvRedisURL,
			url:     "redis://127.0.0.1:1/0",
			call:    func(tb testing.TB) { RequireRedis(tb) },
			wantMsg: []string{"Redis is unreachable", "127.0.0.1:1", EnvRedisURL},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.url)
			msg, cleanups := runFatal(t, tt.call)
			for _, want := range tt.wantMsg {
				require.Contains(t, msg, want)
			}
			require.Zero(t, cleanups)
		})
	}
}

func TestRequireRedis(t *testing.T) {
	u := RequireRedis(t)
	require.Equal(t, RedisURL(), u)

	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	client := redis.NewClient(opts)
	defer client.Close()
	ctx := context.Background()
	key := "pgtest:" + t.Name()
	require.NoError(t, client.Set(ctx, key, "v", 0).Err())
	defer client.Del(ctx, key)
	got, err := client.Get(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, "v", got)
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv(EnvDatabaseURL, "")
	t.Setenv(EnvRedisURL, "")
	require.Equal(t, defaultAdminURL, AdminURL())
	require.Equal(t, defaultRedisURL, RedisURL())

	t.Setenv(EnvDatabaseURL, "postgres://u@db:5433/x")
	t.Setenv(EnvRedisURL, "redis://cache:6380/2")
	require.Equal(t, "postgres://u@db:5433/x", AdminURL())
	require.Equal(t, "redis://cache:6380/2", RedisURL())
}

func TestDBName(t *testing.T) {
	tests := []struct {
		testName string
		wantPart string
	}{
		{"TestX", "testx_"},
		{"TestStore/COPY with dupes #01", "teststore_copy_with_dupes_01_"},
		{strings.Repeat("TestVeryLong", 20), "testverylongtestverylong"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		name := dbName(tt.testName)
		require.LessOrEqual(t, len(name), 63, name)
		require.Regexp(t, `^mdingest_test_[a-z0-9_]+_[0-9a-f]{12}$`, name)
		require.Contains(t, name, tt.wantPart)
		require.False(t, seen[name])
		seen[name] = true
	}
	require.NotEqual(t, dbName("TestX"), dbName("TestX"))
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		admin string
		want  string
	}{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/db1?sslmode=disable"},
		{"postgresql://u:p@h/", "postgresql://u:p@h/db1"},
		{"host=127.0.0.1 user=postgres dbname=postgres", "host=127.0.0.1 user=postgres dbname=postgres dbname=db1"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.admin, "db1")
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
		cfg, err := pgx.ParseConfig(got)
		require.NoError(t, err)
		require.Equal(t, "db1", cfg.Database)
	}
}

func TestRedact(t *testing.T) {
	require.Equal(t, "postgres://u:xxxxx@h/db", redact("postgres://u:secret@h/db"))
	require.Equal(t, "redis://h:6379/0", redact("redis://h:6379/0"))
	require.NotContains(t, redact("host=h password=secret"), "secret")
}
