// Package replaytest serves exchange-replay in-process for tests, in the
// spirit of net/http/httptest: one call starts the handler on a loopback
// server and arranges for both to close when the test ends.
package replaytest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/replay"
)

// Server is a replay.Handler on a loopback HTTP server; an exchange's base
// URL is URL + "/" + its id.
type Server struct {
	*replay.Handler
	URL string
}

// NewServer serves the repository's testdata/replay unless opts names
// Fixtures, with every exchange's rate limit off unless opts.RateLimits is
// set, so that only the client's own limiter paces the test. wrap, when not
// nil, wraps the handler (to log or spoil what is served).
func NewServer(tb testing.TB, opts replay.Options, wrap func(http.Handler) http.Handler) *Server {
	tb.Helper()
	if opts.Fixtures == nil {
		opts.Fixtures = os.DirFS(Fixtures(tb))
	}
	if opts.RateLimits == nil {
		opts.RateLimits = map[string]bool{}
		for _, ex := range replay.Exchanges {
			opts.RateLimits[ex] = false
		}
	}
	h, err := replay.New(opts)
	require.NoError(tb, err)
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	srv := httptest.NewServer(handler)
	tb.Cleanup(func() {
		h.Close() // releases hung requests first
		srv.Close()
	})
	return &Server{Handler: h, URL: srv.URL}
}

// Fixtures returns the path of the repository's testdata/replay, found
// from the working directory up (go test runs in the package's folder).
func Fixtures(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	require.NoError(tb, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "replay")
		}
		parent := filepath.Dir(dir)
		require.NotEqual(tb, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// Clock is a "now" a test sets, to share between the replay (Options.Now)
// and the code under test, so that a test can run ticks hours apart at
// once.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the time the clock stands at.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t, forward or back.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
