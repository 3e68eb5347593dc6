// Package replaytest runs every connector through the real HTTP stack
// (rate limiter, retries, circuit breaker) against exchange-replay served
// in-process: the connectors' paths and parameters must match what the
// replay serves, and the client must cope with the replay's faults and
// rate limits. It holds tests and benchmarks only.
package replaytest

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/ratelimit"
	"github.com/mdingest/mdingest/internal/replay"
	replayserver "github.com/mdingest/mdingest/internal/replay/replaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// served is one request the replay answered, in arrival order.
type served struct {
	at     time.Time
	path   string // with the query
	status int
	used   int       // X-MBX-USED-WEIGHT-1M, -1 when absent
	date   time.Time // the answer's Date: the server's clock
	bytes  int       // body bytes written
	done   bool
}

// server is exchange-replay on an httptest server, with a log of what it
// answered.
type server struct {
	h   *replay.Handler
	url string

	mu  sync.Mutex
	log []served
}

// newServer serves the fixtures with rate limits off unless opts says
// otherwise; it closes at cleanup.
func newServer(tb testing.TB, opts replay.Options) *server {
	tb.Helper()
	s := &server{}
	rs := replayserver.NewServer(tb, opts, func(http.Handler) http.Handler { return http.HandlerFunc(s.serve) })
	s.h, s.url = rs.Handler, rs.URL
	return s
}

// serve logs each request in arrival order and completes its entry when
// the replay has answered (a client may read the answer a moment before).
func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := len(s.log)
	s.log = append(s.log, served{at: time.Now(), path: r.URL.RequestURI(), used: -1})
	s.mu.Unlock()
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.h.ServeHTTP(rec, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.log[i]
	e.status, e.bytes, e.done = rec.status, rec.bytes, true
	if v := w.Header().Get("X-MBX-USED-WEIGHT-1M"); v != "" {
		e.used, _ = strconv.Atoi(v)
	}
	e.date = parseDate(w.Header())
}

// served returns a copy of the log; the last entries may not be done.
func (s *server) served() []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]served(nil), s.log...)
}

// requests returns how many requests the replay received on one route
// (as /_admin/routes lists it).
func (s *server) requests(exchange, route string) int {
	if r := s.h.Stats()[exchange].Routes[route]; r != nil {
		return int(r.Requests)
	}
	return 0
}

// limited returns how many requests the replay refused over its rate limit
// on the exchange.
func (s *server) limited(exchange string) int {
	n := 0
	for _, r := range s.h.Stats()[exchange].Routes {
		n += int(r.RateLimited)
	}
	return n
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// attempts collects the client's Observer records.
type attempts struct {
	mu  sync.Mutex
	all []httpclient.Attempt
}

func (a *attempts) observe(at httpclient.Attempt) {
	a.mu.Lock()
	a.all = append(a.all, at)
	a.mu.Unlock()
}

func (a *attempts) list() []httpclient.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]httpclient.Attempt(nil), a.all...)
}

// clientOpts are what a test changes in the client; zero values keep the
// defaults of the composition root (or fast retries where noted).
type clientOpts struct {
	budget       exchange.RateLimit // Limit, Window, Burst override the spec's, like config rate_limit
	noUsedHeader bool               // drop the spec's used-weight header
	timeout      time.Duration
	retry        httpclient.RetryPolicy // zero: fast retries (ms backoffs)
	breaker      httpclient.BreakerSettings
	banFreeze    time.Duration
	clock        clockwork.Clock
	agingStep    time.Duration
	reserve      float64  // share of the budget kept for high and critical
	waits        *waitLog // records each Acquire's wait
	// shared, keyPrefix and egress share the budget through Redis.
	shared    redis.Scripter
	keyPrefix string
	egress    string
}

// client is one exchange's connector on a real httpclient and limiter.
type client struct {
	exchange.Connector
	http     *httpclient.Client
	limiter  *ratelimit.Limiter
	attempts *attempts
}

// newClient builds exchange id's client as daemon.NewClient does (the
// spec's limits unless overridden, base_url at the replay), with test
// retry, breaker and clock settings.
func newClient(tb testing.TB, s *server, id string, o clientOpts) *client {
	tb.Helper()
	c, ok := registry.Lookup(id)
	require.True(tb, ok, "no connector %q", id)
	spec := c.Spec()
	rl := spec.RateLimit
	if o.budget.Limit > 0 {
		rl.Limit = o.budget.Limit
	}
	if o.budget.Window > 0 {
		rl.Window = o.budget.Window
	}
	if o.budget.Burst > 0 {
		rl.Burst = o.budget.Burst
	}
	if o.budget.Kind != "" {
		rl.Kind = o.budget.Kind
	}
	lim, err := ratelimit.New(ratelimit.Options{
		Exchange: id, Kind: ratelimit.Kind(rl.Kind), Limit: rl.Limit, Window: rl.Window, Burst: rl.Burst,
		Reserve: o.reserve, AgingStep: o.agingStep, Clock: o.clock,
		Shared: o.shared, KeyPrefix: o.keyPrefix, Egress: o.egress,
	})
	require.NoError(tb, err)
	ho := httpclient.SpecOptions(spec)
	ho.BaseURL = s.url + "/" + id
	if o.noUsedHeader {
		ho.UsedWeightHeader = ""
	}
	ho.Timeout = o.timeout
	if ho.Timeout == 0 {
		ho.Timeout = 5 * time.Second
	}
	ho.Retry = o.retry
	if ho.Retry == (httpclient.RetryPolicy{}) {
		ho.Retry = httpclient.RetryPolicy{MaxAttempts: 4, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Jitter: -1}
	}
	ho.Breaker = o.breaker
	ho.BanFreeze = o.banFreeze
	ho.Clock = o.clock
	log := &attempts{}
	ho.Limiter, ho.Observer = lim, log.observe
	if o.waits != nil {
		ho.Limiter = timedLimiter{Limiter: lim, log: o.waits}
	}
	hc, err := httpclient.New(ho)
	require.NoError(tb, err)
	tb.Cleanup(hc.Close)
	return &client{Connector: c.New(hc), http: hc, limiter: lim, attempts: log}
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
