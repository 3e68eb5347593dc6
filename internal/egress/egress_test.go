package egress

import (
	"context"
	"sync"
	"testing"
	"time"

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
	p, err := New(Options{DatabaseURL: url, Egress: egress, Interval: 20 * time.Millisecond, OnChange: onChange})
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
