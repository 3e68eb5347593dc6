package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPGBin overrides the directory holding initdb, postgres and pg_config.
const EnvPGBin = "MDINGEST_TEST_PG_BIN"

const (
	clusterReadyTimeout = 90 * time.Second
	clusterStopTimeout  = 60 * time.Second
)

// ClusterOptions configure a private cluster.
type ClusterOptions struct {
	// Timescale preloads the timescaledb library, so databases can create
	// the extension.
	Timescale bool
	// Durable keeps PostgreSQL's default fsync and full-page writes
	// (benchmarks); tests turn them off, since they kill the ingester, never
	// the server.
	Durable bool
	// Settings are extra -c name=value server settings.
	Settings map[string]string
}

// Cluster is a PostgreSQL server of the test process's own: initdb into a
// temporary directory, a free port on 127.0.0.1, trust authentication. It
// runs as a child of the test process (as user postgres when the process is
// root) and dies with it: the postmaster gets SIGQUIT when the test binary
// exits, even without cleanups (a test timeout), and PostgreSQL itself shuts
// down once its data directory is removed.
type Cluster struct {
	opts ClusterOptions
	bin  string
	dir  string
	data string
	port int
	cred *syscall.Credential

	mu      sync.Mutex
	running *postmaster
}

type postmaster struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// PGBin finds the PostgreSQL server binaries: $MDINGEST_TEST_PG_BIN, else
// the newest /usr/lib/postgresql/*/bin.
func PGBin() (string, error) {
	if b := os.Getenv(EnvPGBin); b != "" {
		return b, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found: install postgresql or set %s", EnvPGBin)
	}
	sort.Slice(matches, func(i, j int) bool { return majorOf(matches[i]) < majorOf(matches[j]) })
	return filepath.Dir(matches[len(matches)-1]), nil
}

func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// TimescaleInstalled reports whether the timescaledb library is in the
// server's library directory, and that directory.
func TimescaleInstalled(bin string) (bool, string, error) {
	out, err := exec.Command(filepath.Join(bin, "pg_config"), "--pkglibdir").Output()
	if err != nil {
		// Debian ships pg_config only with the -dev package; the server's
		// library directory sits beside its bin directory.
		lib := filepath.Join(filepath.Dir(bin), "lib")
		_, statErr := os.Stat(filepath.Join(lib, "timescaledb.so"))
		return statErr == nil, lib, nil
	}
	lib := strings.TrimSpace(string(out))
	_, statErr := os.Stat(filepath.Join(lib, "timescaledb.so"))
	return statErr == nil, lib, nil
}

// StartCluster initialises and starts a cluster. Stop it with Stop and
// remove it with Remove (NewCluster does both for a test).
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	bin, err := PGBin()
	if err != nil {
		return nil, err
	}
	if opts.Timescale {
		ok, lib, err := TimescaleInstalled(bin)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: timescaledb.so is not in %s", ErrNoTimescale, lib)
		}
	}
	dir, err := os.MkdirTemp("", "mdingest-pg-")
	if err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	c := &Cluster{opts: opts, bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs a postgres user to own the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("handing the cluster directory to postgres: %w", err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if err := c.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// ErrNoTimescale says the TimescaleDB extension is not installed.
var ErrNoTimescale = errors.New("TimescaleDB is not installed for the local PostgreSQL " +
	"(run `make timescaledb`, i.e. tools/timescaledb/install.sh, which builds 2.28.3 from ../shared/vendor; " +
	"or install Timescale's timescaledb-2-postgresql-15 package; or set " + EnvTimescaleURL +
	" to an admin URL of a server that preloads timescaledb)")

// Start starts the server (again, after Stop) on the same port and waits
// until it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		return errors.New("cluster already running")
	}
	var lastErr error
	for range 3 {
		if c.port == 0 {
			port, err := freePort()
			if err != nil {
				return err
			}
			c.port = port
		}
		pm, err := c.spawn()
		if err != nil {
			return err
		}
		if err = c.waitReady(pm); err == nil {
			c.running = pm
			return nil
		}
		lastErr = err
		c.kill(pm)
		if !c.portTaken() {
			break
		}
		c.port = 0 // someone took the port between probe and bind: pick another
	}
	return lastErr
}

func (c *Cluster) args() []string {
	settings := map[string]string{
		"listen_addresses":            "127.0.0.1",
		"port":                        strconv.Itoa(c.port),
		"unix_socket_directories":     c.dir,
		"max_connections":             "200",
		"max_worker_processes":        "32",
		"max_parallel_workers":        "4",
		"logging_collector":           "off",
		"log_min_messages":            "warning",
		"timescaledb.telemetry_level": "off",
	}
	if !c.opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	if c.opts.Timescale {
		settings["shared_preload_libraries"] = "timescaledb"
		settings["timescaledb.max_background_workers"] = "24"
	} else {
		delete(settings, "timescaledb.telemetry_level")
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", c.data}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

// spawn starts the postmaster on a goroutine whose OS thread stays locked
// and alive for as long as the process runs: the parent-death signal is
// tied to the thread that forked, so this way it fires only when the test
// binary itself exits.
func (c *Cluster) spawn() (*postmaster, error) {
	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening server log: %w", err)
	}
	pm := &postmaster{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer logFile.Close()
		cmd := exec.Command(filepath.Join(c.bin, "postgres"), c.args()...)
		cmd.Dir = c.dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
		pm.cmd = cmd
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting postgres: %w", err)
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		pm.err = cmd.Wait()
		close(pm.done)
		// The thread stays locked: the goroutine exits and the runtime
		// retires the thread, which is what we want once the child is gone.
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return pm, nil
}

func (c *Cluster) waitReady(pm *postmaster) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-pm.done:
			return fmt.Errorf("postgres exited before accepting connections (%v); log:\n%s", pm.err, c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %v; log:\n%s", clusterReadyTimeout, err, c.logTail())
		}
	}
}

func (c *Cluster) portTaken() bool {
	return strings.Contains(c.logTail(), "could not bind")
}

func (c *Cluster) kill(pm *postmaster) {
	_ = pm.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-pm.done:
	case <-time.After(clusterStopTimeout):
		_ = syscall.Kill(-pm.cmd.Process.Pid, syscall.SIGKILL)
		<-pm.done
	}
}

// Stop shuts the server down the way an operator's restart does (fast
// shutdown: active connections are cut) and waits for it to exit.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pm := c.running
	if pm == nil {
		return nil
	}
	c.running = nil
	_ = pm.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pm.done:
		return nil
	case <-time.After(clusterStopTimeout):
		c.kill(pm)
		return fmt.Errorf("postgres did not stop within %s; killed", clusterStopTimeout)
	}
}

// Remove stops the server and deletes its directory.
func (c *Cluster) Remove() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL is the URL of database db as the superuser postgres.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=10", c.port, db)
}

// ReapedCPU is the CPU time of the server's children that have exited:
// the backends of closed connections (the background processes count only
// once they end). Read before and after a client's session, it is what the
// server spent on it. Zero when the server is not running.
func (c *Cluster) ReapedCPU() time.Duration {
	c.mu.Lock()
	pm := c.running
	c.mu.Unlock()
	if pm == nil || pm.cmd.Process == nil {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pm.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start at state;
	// cutime and cstime are fields 16 and 17, in clock ticks of 1/100 s.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cu+cs) * 10 * time.Millisecond
}

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "server.log") }

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.LogPath())
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return p
}
