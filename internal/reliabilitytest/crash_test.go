package reliabilitytest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

// The crash child: this test binary re-executed with these variables set
// runs a writer until it is killed (see TestMain).
const (
	envChildMode = "MDINGEST_CRASH_CHILD" // "spool" or "replay"
	envChildDir  = "MDINGEST_CRASH_SPOOL"
	envChildDB   = "MDINGEST_CRASH_DB"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChildMode); mode != "" {
		if err := crashChild(mode, os.Getenv(envChildDir), os.Getenv(envChildDB)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// reporting wraps the spool and prints what became durable: after Append
// returns, the batch is on disk; after Ack, it is in the database. Lines
// end with "." so a line cut by the kill is recognisable.
type reporting struct {
	*spool.Spool
	out io.Writer
	mu  sync.Mutex
}

func (r *reporting) Append(table string, rows any, limit float64) error {
	if err := r.Spool.Append(table, rows, limit); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	switch rs := rows.(type) {
	case []market.Candle:
		for _, c := range rs {
			keys = append(keys, strconv.Itoa(int(c.Time.Sub(t0)/time.Minute)))
		}
	case []ops.JobRun:
		for _, j := range rs {
			keys = append(keys, j.Job)
		}
	}
	_, err := fmt.Fprintf(r.out, "SPOOLED %s %s .\n", table, strings.Join(keys, ","))
	return err
}

func (r *reporting) Ack() error {
	if err := r.Spool.Ack(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := fmt.Fprintln(r.out, "ACKED .")
	return err
}

// crashChild writes through writer and spool until killed: in "spool"
// mode it feeds candles and job runs while the database is down; in
// "replay" mode it replays the spool into the database.
func crashChild(mode, dir, dbURL string) error {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL) // connects lazily: the database may be down
	if err != nil {
		return err
	}
	sp, err := spool.Open(dir, spool.Options{SegmentBytes: 64 << 10})
	if err != nil {
		return err
	}
	rs := &reporting{Spool: sp, out: os.Stdout}
	w, err := writer.New(store.New(pool, nil), writer.Options{BatchSize: 10, FlushInterval: 10 * time.Millisecond,
		RetryInitial: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, Spool: rs})
	if err != nil {
		return err
	}
	go func() { _ = w.Run(ctx) }()
	if mode == "replay" {
		select {} // until killed
	}
	pctx := priority.With(ctx, priority.High)
	for i := 0; ; i++ {
		cs, _, _, jr := batch(i)
		fmt.Printf("PUT %d .\n", i)
		if err := w.Put(pctx, time.Now(), tables.Candles.Rows(cs)); err != nil {
			return err
		}
		if err := w.Put(pctx, time.Now(), tables.JobRuns.Rows(jr)); err != nil {
			return err
		}
		time.Sleep(time.Millisecond) // pace the feed; the kill comes at any point
	}
}

// child is a running crash child and what it reported.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	puts int // highest batch index put
	// spooled holds what the child reported durable: candle minutes and
	// job names.
	spooled map[string]bool
	records int
	acked   int
	done    chan struct{}
}

func startChild(t *testing.T, mode, dir, dbURL string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildDir+"="+dir, envChildDB+"="+dbURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ch := &child{cmd: cmd, puts: -1, spooled: map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer close(ch.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 || f[len(f)-1] != "." {
				continue // cut by the kill
			}
			ch.mu.Lock()
			switch f[0] {
			case "PUT":
				ch.puts, _ = strconv.Atoi(f[1])
			case "SPOOLED":
				ch.records++
				for _, k := range strings.Split(f[2], ",") {
					ch.spooled[f[1]+"/"+k] = true
				}
			case "ACKED":
				ch.acked++
			}
			ch.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-ch.done; _ = cmd.Wait() })
	return ch
}

func (ch *child) state() (records, acked int) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.records, ch.acked
}

// kill sends SIGKILL and waits for the process to be gone.
func (ch *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, ch.cmd.Process.Signal(syscall.SIGKILL))
	<-ch.done
	err := ch.cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must die of the kill, not exit by itself")
}

// TestCrashLosesNothingSpooled: a writer spooling through a database
// outage is killed with SIGKILL (mid-append, as likely as not); a second
// one replaying the spool with the database back is killed too; a third
// finishes. Every batch the first reported durable is stored, nothing is
// stored twice, nothing made up.
func TestCrashLosesNothingSpooled(t *testing.T) { onBothBackends(t, testCrashLosesNothingSpooled) }

func testCrashLosesNothingSpooled(t *testing.T, timescale bool) {
	c := newCluster(t, timescale)
	c.stop()
	dir := t.TempDir()
	dbURL := c.url("mdingest")

	first := startChild(t, "spool", dir, dbURL)
	require.Eventually(t, func() bool { r, _ := first.state(); return r >= 300 }, wait, poll, "the child spools")
	first.kill(t)
	first.mu.Lock()
	spooled, puts := first.spooled, first.puts
	first.mu.Unlock()

	c.start()
	second := startChild(t, "replay", dir, dbURL)
	require.Eventually(t, func() bool { _, a := second.state(); return a >= 20 }, wait, poll, "the second child replays")
	second.kill(t)

	// The last start, with the database up: replays what is left.
	st := c.openStore(t)
	db := c.db(t)
	sp, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	left := sp.Pending()
	w, err := writer.New(st, writer.Options{RetryInitial: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, Spool: sp})
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background()) }()
	require.Eventually(t, func() bool { return sp.Pending() == 0 }, wait, poll)
	dctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, w.Drain(dctx))
	require.NoError(t, <-runErr)
	t.Logf("first child: %d batches put, %d rows reported spooled; %d spooled batches left for the last start",
		puts+1, len(spooled), left)

	// Every durable row is stored; none beyond what was put; none twice.
	stored := map[string]bool{}
	rows, err := db.Query(context.Background(),
		`SELECT 'candles/' || (extract(epoch FROM ts - $1::timestamptz) / 60)::int FROM market.candles
		 UNION ALL SELECT 'job_runs/' || job FROM ops.job_runs`, t0)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		require.False(t, stored[k], "%s stored twice", k)
		stored[k] = true
	}
	require.NoError(t, rows.Err())
	for k := range spooled {
		require.True(t, stored[k], "%s was durable in the spool but is not stored", k)
	}
	require.LessOrEqual(t, count(t, db, `SELECT count(*) FROM market.candles`), 5*(puts+1))
	require.Zero(t, count(t, db, `SELECT count(*) FROM market.candles WHERE ts >= $1::timestamptz + $2 * interval '1 minute'`,
		t0, 5*(puts+1)), "nothing that was never put")
	require.NoDirExists(t, dir+"/"+spool.QuarantineDir, "nothing refused")
}
