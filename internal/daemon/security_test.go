package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/replay"
)

func randomHex(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// passwordRole creates a login role with a password on the test server and
// hands it a fresh database. Trust authentication lets the role in without
// checking the password, but the password is in every URL the daemon sees.
func passwordRole(t *testing.T) (roleURL, adminURL, password string) {
	t.Helper()
	suffix := randomHex(t)
	role, password := "mdingest_sec_"+suffix, "sekr1t-"+suffix
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	ident := pgx.Identifier{role}.Sanitize()
	_, err = admin.Exec(ctx, "CREATE ROLE "+ident+" LOGIN PASSWORD '"+password+"'")
	require.NoError(t, err)
	// Registered before the database, so it runs after the database is dropped.
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err != nil {
			t.Errorf("dropping role: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident); err != nil {
			t.Errorf("dropping role: %v", err)
		}
	})
	adminURL = pgtest.NewDB(t)
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	db := strings.TrimPrefix(u.Path, "/")
	_, err = admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+ident)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	return u.String(), adminURL, password
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// mdingest runs the built binary to completion with env added.
func mdingest(t *testing.T, env []string, args ...string) result {
	t.Helper()
	bin, err := buildMdingest()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Dir = t.TempDir() // no mdingest.yaml around
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running mdingest %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is the test's environment without mdingest's variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DATABASE_URL", "REDIS_URL", "MDINGEST_LISTEN", "MDINGEST_LOG_FORMAT", "MDINGEST_LOG_LEVEL", "MDINGEST_CONFIG":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// requireNoSecret fails if any of the texts holds one of the secrets.
func requireNoSecret(t *testing.T, what string, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, text, s, "%s shows a secret", what)
	}
}

// TestSecretsNeverShown runs the daemon as a process with a database and a
// Redis URL that carry passwords, under faults that produce errors, and
// looks for the passwords in everything it shows: logs, /status, /metrics,
// the ops tables, and the error output of failing commands.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	roleURL, adminURL, dbPassword := passwordRole(t)
	redisPassword := "r3dis-sekr1t-" + randomHex(t)
	rs := startRedis(t, redisPassword)
	secrets := []string{dbPassword, redisPassword}
	env := []string{"DATABASE_URL=" + roleURL, "REDIS_URL=" + rs.URL(), "MDINGEST_LOG_LEVEL=debug"}

	res := mdingest(t, env, "migrate", "up")
	require.Equal(t, 0, res.code, res.stderr)
	requireNoSecret(t, "migrate up", res.stdout+res.stderr, secrets...)

	rp := newReplay(t, nil)
	require.NoError(t, rp.AddFaults(
		replay.Fault{Exchange: "binance", Route: "/api/v3/depth", Effect: "malformed"}, // rejected rows
		replay.Fault{Exchange: "okx", Effect: "503"},                                   // failed jobs
	))
	listen := daemontest.FreeAddr(t)
	var y strings.Builder
	fmt.Fprintf(&y, "listen: %s\nstore: {timescaledb: \"off\", flush_interval: 250ms}\n", listen)
	fmt.Fprintf(&y, "jobs: {realtime: 1s, high: 2s, medium: 2s, low: 5s}\nexchanges:\n")
	for _, ex := range []string{"kraken", "kucoin", "htx"} { // on by default
		fmt.Fprintf(&y, "  %s: {enabled: false}\n", ex)
	}
	for _, ex := range []string{"binance", "okx"} {
		fmt.Fprintf(&y, "  %s: {enabled: true, base_url: %q, symbols: [BTC/USDT], rate_limit: {limit: 200, window: 1s, burst: 50}}\n", ex, rp.URL+"/"+ex)
	}
	cfgPath := writeFile(t, "mdingest.yaml", y.String())

	bin, err := buildMdingest()
	require.NoError(t, err)
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr daemontest.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", stderr.String())
		}
	})
	daemontest.WaitHealthy(t, listen, exited)

	// A slow client that never finishes its headers is cut off by the
	// server's read timeout instead of holding a connection for ever.
	slowloris := make(chan error, 1)
	go func() { slowloris <- halfRequest(listen) }()

	pool := openPool(t, adminURL)
	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE exchange = 'okx' AND error <> ''`) > 0 &&
			count(t, pool, `SELECT count(*) FROM ops.rejected_rows WHERE exchange = 'binance'`) > 0 &&
			count(t, pool, `SELECT count(*) FROM market.tickers WHERE exchange = 'binance'`) > 0
	}, waitFor, pollGap, "the daemon stored no errors or rows")
	require.Eventually(t, func() bool { return rs.keys(t, "mdingest:ticker:*") > 0 }, waitFor, pollGap)
	// Redis errors are logged with the address they dialled: kill it.
	rs.kill()
	require.Eventually(t, func() bool {
		st, _ := getStatus(t, listen)
		return st.Cache == "memory"
	}, waitFor, pollGap)

	_, statusBody := getStatus(t, listen)
	requireNoSecret(t, "/status", string(statusBody), secrets...)
	resp, err := http.Get("http://" + listen + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metrics), "mdingest_writer_batch_latency_seconds")
	requireNoSecret(t, "/metrics", string(metrics), secrets...)

	select {
	case err := <-slowloris:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("the server kept a half-sent request open: no read timeout")
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err, "exit after SIGTERM: %s", stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("the daemon did not stop on SIGTERM")
	}
	logs := stdout.String() + stderr.String()
	require.Contains(t, logs, "level=DEBUG", "debug logging was on")
	require.Contains(t, logs, "redis", "the outage was logged")
	requireNoSecret(t, "the daemon's logs", logs, secrets...)

	for _, q := range []string{
		`SELECT coalesce(string_agg(error, ' '), '') FROM ops.job_runs`,
		`SELECT coalesce(string_agg(reason, ' '), '') FROM ops.rejected_rows`,
		`SELECT coalesce(string_agg(issues::text, ' '), '') FROM ops.quality_reports`,
	} {
		var text string
		require.NoError(t, pool.QueryRow(context.Background(), q).Scan(&text))
		requireNoSecret(t, q, text, secrets...)
	}
	require.NotZero(t, count(t, pool, `SELECT count(*) FROM ops.job_runs WHERE error <> ''`))

	// Failing commands name the problem without the password.
	dead, badPort := withPort(t, roleURL, "1"), withPort(t, roleURL, "99999")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string // in stderr
	}{
		{"migrate up, unreachable database (flag)", nil, []string{"migrate", "up", "--database-url", dead}, 1, "127.0.0.1"},
		{"migrate up, unreachable database (env)", []string{"DATABASE_URL=" + dead}, []string{"migrate", "up"}, 1, "127.0.0.1"},
		{"migrate version, invalid port", []string{"DATABASE_URL=" + badPort}, []string{"migrate", "version"}, 2, "database_url"},
		{"run, bad redis database number", []string{"DATABASE_URL=" + roleURL, "REDIS_URL=redis://:" + redisPassword + "@127.0.0.1:6379/x"}, []string{"run", "--listen", daemontest.FreeAddr(t)}, 2, "redis_url"},
		{"run, redis URL that does not parse", []string{"DATABASE_URL=" + roleURL, "REDIS_URL=redis://:" + redisPassword + "@127.0.0.1:port/0"}, []string{"run"}, 2, "redis_url"},
		{"status, no daemon, unreachable database", []string{"DATABASE_URL=" + dead, "MDINGEST_LISTEN=" + daemontest.FreeAddr(t)}, []string{"status"}, 1, "127.0.0.1"},
		{"password in the config file", nil, []string{"run", "--config", writeFile(t, "c.yaml", "database_url: "+roleURL+"\n")}, 2, "database_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mdingest(t, tc.env, tc.args...)
			require.Equal(t, tc.code, res.code, "stdout %s\nstderr %s", res.stdout, res.stderr)
			require.Contains(t, res.stderr, tc.want)
			requireNoSecret(t, "output", res.stdout+res.stderr, secrets...)
		})
	}
}

// TestSecretsNeverShownWithDatabaseDown: a daemon started while its
// database is unreachable runs (it spools), and what it says about the
// database names the address, never the password.
func TestSecretsNeverShownWithDatabaseDown(t *testing.T) {
	bin, err := buildMdingest()
	require.NoError(t, err)
	const password = "Pw-dead-db-7Qx"
	dead := "postgres://mdingest:" + password + "@127.0.0.1:1/mdingest?sslmode=disable&connect_timeout=2"
	cfg := writeFile(t, "c.yaml", "exchanges:\n  binance: {base_url: 'http://127.0.0.1:1/binance'}\n")
	cmd := exec.Command(bin, "run", "--config", cfg, "--listen", daemontest.FreeAddr(t))
	cmd.Env = append(cleanEnv(), "DATABASE_URL="+dead, "REDIS_URL=")
	cmd.Dir = t.TempDir()
	var out daemontest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "database unreachable") }, waitFor, pollGap,
		"the daemon says the database is unreachable: %s", out.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatal("the daemon did not stop on SIGTERM")
	}
	logs := out.String()
	require.Contains(t, logs, "127.0.0.1:1", "the address is named")
	requireNoSecret(t, "the daemon's logs", logs, password)
}

// withPort returns the URL with another port.
func withPort(t *testing.T, raw, port string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Host = net.JoinHostPort(u.Hostname(), port)
	return u.String()
}

// halfRequest sends half a request's headers and waits for the server to
// close the connection. It returns an error if the server never does.
func halfRequest(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /status HTTP/1.1\r\nHost: x\r\n"); err != nil {
		return err
	}
	// Well beyond the server's header timeout; the point is that it ends.
	if err := conn.SetReadDeadline(time.Now().Add(25 * time.Second)); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after 25s: %w", err)
	}
	return nil // closed (EOF or reset) by the server
}

// TestPlainHTTPRefused: a plain-http base_url is accepted only for loopback
// (exchange-replay); anything else is a configuration error naming the key.
func TestPlainHTTPRefused(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"api.binance.com", "10.0.0.7:8700", "[2001:db8::1]:8700"} {
		t.Run(host, func(t *testing.T) {
			cfg := writeFile(t, "c.yaml", fmt.Sprintf("exchanges:\n  binance: {enabled: true, base_url: \"http://%s/binance\"}\n", host))
			res := mdingest(t, []string{"DATABASE_URL=postgres://u:sekr1t@127.0.0.1:1/x"}, "run", "--config", cfg)
			require.Equal(t, 2, res.code, res.stderr)
			require.Contains(t, res.stderr, "exchanges.binance.base_url")
			require.Equal(t, 1, strings.Count(strings.TrimSpace(res.stderr), "\n")+1, "one line: %q", res.stderr)
			require.NotContains(t, res.stderr, "sekr1t")
		})
	}
}
