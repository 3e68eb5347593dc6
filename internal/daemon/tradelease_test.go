package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeLeases is one database's advisory leases, shared by the instances
// of a test; down makes it unreachable.
type fakeLeases struct {
	mu     sync.Mutex
	holder map[string]string
	down   bool
}

type leaseOf struct {
	db       *fakeLeases
	instance string
}

func (l leaseOf) Lease(_ context.Context, key string) (bool, error) {
	l.db.mu.Lock()
	defer l.db.mu.Unlock()
	if l.db.down {
		return false, errors.New("connection refused")
	}
	if h, ok := l.db.holder[key]; ok {
		return h == l.instance, nil
	}
	l.db.holder[key] = l.instance
	return true, nil
}

func (l leaseOf) ReleaseLease(key string) {
	l.db.mu.Lock()
	defer l.db.mu.Unlock()
	if l.db.holder[key] == l.instance {
		delete(l.db.holder, key)
	}
}

// TestTradeLeaseWithoutRedis: without Redis, the database's lease keeps
// trade capture to one instance, another takes over when it stops, and
// only when the database cannot answer either does every instance capture.
func TestTradeLeaseWithoutRedis(t *testing.T) {
	db := &fakeLeases{holder: map[string]string{}}
	lease := func(instance string) *tradeLease {
		return &tradeLease{pg: leaseOf{db, instance}, key: "trades-capture/okx", ttl: 30 * time.Millisecond, logger: slog.New(slog.DiscardHandler)}
	}
	a, b := lease("a"), lease("b")
	ctx := context.Background()
	require.True(t, a.Held(ctx))
	require.False(t, b.Held(ctx), "one instance at a time")

	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.keep(actx) }()
	time.Sleep(50 * time.Millisecond)
	require.False(t, b.Held(ctx), "renewed while a runs")
	stop()
	<-done
	require.Eventually(t, func() bool { return b.Held(ctx) }, time.Second, 5*time.Millisecond, "b takes over when a stops")

	db.down = true
	c := lease("c")
	require.True(t, c.Held(ctx), "no lease service answers: capture here")
}
