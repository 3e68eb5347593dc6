package egress

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestID(t *testing.T) {
	require.Equal(t, "nat-1", ID("nat-1"))
	host := ID("")
	require.NotEmpty(t, host)
	require.Equal(t, host, ID(""), "stable for the host")
	require.NotEqual(t, Key("host-a"), Key("host-b"))
	_, err := New(Options{})
	require.Error(t, err)
}

// run starts Peers until the returned stop is called.
func run(t *testing.T, url, egress string, onChange func(int)) (*Peers, func()) {
	t.Helper()
	return runOpts(t, Options{DatabaseURL: url, Egress: egress, Interval: 20 * time.Millisecond, OnChange: onChange})
}

func runOpts(t *testing.T, opts Options) (*Peers, func()) {
	t.Helper()
	p, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, p.Run(ctx)) })
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return p, stop
}

func eventually(t *testing.T, p *Peers, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return p.Count() == n }, 10*time.Second, 10*time.Millisecond, "want %d, have %d", n, p.Count())
}

// waitSlots waits until n processes hold a slot of egress in the database
// at url (other tests' databases may hold slots of the same egress).
func waitSlots(t *testing.T, url, egress string, n int, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Eventually(t, func() bool {
		var held int
		require.NoError(t, conn.QueryRow(ctx,
			`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1
			   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(Key(egress))).Scan(&held))
		return held == n
	}, within, within/1000, "want %d slots of %s held", n, egress)
}

// TestPeersCountTheProcessesOnAnEgress: processes on one egress count each
// other, those on another egress do not, and a process that stops is no
// longer counted.
func TestPeersCountTheProcessesOnAnEgress(t *testing.T) {
	url := pgtest.NewDB(t)
	a, _ := run(t, url, "host-a", nil)
	eventually(t, a, 1)
	b, stopB := run(t, url, "host-a", nil)
	other, _ := run(t, url, "host-b", nil)
	eventually(t, a, 2)
	eventually(t, b, 2)
	eventually(t, other, 1)

	stopB()
	eventually(t, a, 1)
}

// TestJoiningHoldsBack: a process joining an egress where others send is
// told to hold back for two counts, the time the others take to learn of
// it; the first process on an egress is not.
func TestJoiningHoldsBack(t *testing.T) {
	url := pgtest.NewDB(t)
	var mu sync.Mutex
	holds := map[string][]time.Duration{}
	start := func(name string) *Peers {
		p, _ := runOpts(t, Options{DatabaseURL: url, Egress: "host-a", Interval: 20 * time.Millisecond,
			OnJoin: func(d time.Duration) { mu.Lock(); holds[name] = append(holds[name], d); mu.Unlock() }})
		return p
	}
	first := start("first")
	// Wait for first's slot: its count alone says 1 before it has one.
	waitSlots(t, url, "host-a", 1, 10*time.Second)
	second := start("second")
	eventually(t, second, 2)
	eventually(t, first, 2)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, holds["first"])
	require.Equal(t, []time.Duration{40 * time.Millisecond}, holds["second"])
}

// TestPeersShareTheBudget: the count reaches the rate limiters, which then
// keep to half the budget each while there is no shared state.
func TestPeersShareTheBudget(t *testing.T) {
	url := pgtest.NewDB(t)
	var lims []*ratelimit.Limiter
	for range 2 {
		l, err := ratelimit.New(ratelimit.Options{Exchange: "binance", Limit: 10, Window: time.Hour, Burst: 10})
		require.NoError(t, err)
		lims = append(lims, l)
		run(t, url, "host-a", l.SetPeers)
	}
	for _, l := range lims {
		require.Eventually(t, func() bool { return l.Peers() == 2 }, 10*time.Second, 10*time.Millisecond)
	}
	granted := 0
	for _, l := range lims {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		for l.Wait(ctx, 1) == nil {
			granted++
		}
		cancel()
	}
	require.Equal(t, 10, granted, "5 each: together within the limit")
}

// TestPeersKeepTheCountThroughADatabaseOutage: while PostgreSQL is away
// the last count holds (a process does not fall back to the whole budget),
// and when it returns every process takes a slot again.
func TestPeersKeepTheCountThroughADatabaseOutage(t *testing.T) {
	c := pgtest.NewCluster(t, pgtest.ClusterOptions{})
	url := c.URL("postgres")
	var changes []int
	var mu sync.Mutex
	a, _ := run(t, url, "host-a", func(n int) { mu.Lock(); changes = append(changes, n); mu.Unlock() })
	b, _ := run(t, url, "host-a", nil)
	eventually(t, a, 2)
	eventually(t, b, 2)

	require.NoError(t, c.Stop())
	time.Sleep(200 * time.Millisecond) // ten counts' time
	require.Equal(t, 2, a.Count())
	require.Equal(t, 2, b.Count())

	require.NoError(t, c.Start())
	waitSlots(t, url, "host-a", 2, 20*time.Second) // both hold a slot again
	require.Equal(t, 2, a.Count())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{2}, changes, "never back to 1 on the way")
}

// TestFirstCountIsReportedOnce: the first count is handed over once, with
// the processes already there, so that a process started beside another
// learns it does not send alone before it sends at all.
func TestFirstCountIsReportedOnce(t *testing.T) {
	url := pgtest.NewDB(t)
	var mu sync.Mutex
	firsts := map[string][]int{}
	start := func(name string) *Peers {
		p, _ := runOpts(t, Options{DatabaseURL: url, Egress: "host-first", Interval: 20 * time.Millisecond,
			OnFirstCount: func(n int) { mu.Lock(); firsts[name] = append(firsts[name], n); mu.Unlock() }})
		return p
	}
	counted := func(name string) bool { mu.Lock(); defer mu.Unlock(); return len(firsts[name]) > 0 }
	a := start("a")
	require.Eventually(t, func() bool { return counted("a") }, 10*time.Second, 10*time.Millisecond)
	b := start("b")
	eventually(t, b, 2)
	eventually(t, a, 2)
	time.Sleep(100 * time.Millisecond) // several counts more
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string][]int{"a": {1}, "b": {2}}, firsts)
}
