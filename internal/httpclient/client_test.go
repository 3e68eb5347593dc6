package httpclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastRetry keeps retried tests quick: millisecond backoffs, no jitter.
var fastRetry = RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond, Jitter: -1}

// epoch is a window-aligned start for fake clocks.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// step is one scripted response.
type step struct {
	status  int
	header  map[string]string
	body    string
	chunked bool // send without Content-Length
	hang    bool // never answer; wait for the client to give up
}

// script serves its steps in order, repeating the last, and records the
// requests.
type script struct {
	mu    sync.Mutex
	steps []step
	urls  []string
	clock clockwork.Clock // the server's clock for the Date header; nil: the real one
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.steps[min(len(s.urls), len(s.steps)-1)]
	s.urls = append(s.urls, r.URL.RequestURI())
	s.mu.Unlock()
	if st.hang {
		<-r.Context().Done()
		return
	}
	if s.clock != nil {
		w.Header().Set("Date", s.clock.Now().UTC().Format(http.TimeFormat))
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cmpOr(st.status, http.StatusOK))
	if st.chunked {
		w.(http.Flusher).Flush()
	}
	_, _ = io.WriteString(w, st.body)
}

func (s *script) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.urls)
}

func (s *script) set(steps ...step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps, s.urls = steps, nil
}

func serve(t *testing.T, steps ...step) (*httptest.Server, *script) {
	t.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, s
}

// recorder is an Observer keeping every attempt.
type recorder struct {
	mu       sync.Mutex
	attempts []Attempt
}

func (r *recorder) observe(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

func (r *recorder) all() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

func newClient(t *testing.T, baseURL string, mod func(*Options)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts := Options{
		Exchange:   "testex",
		BaseURL:    baseURL,
		Retry:      fastRetry,
		Observer:   rec.observe,
		Registerer: prometheus.NewRegistry(),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, rec
}

// want is the expected record of one attempt.
type want struct {
	status   int
	outcome  Outcome
	category Category
}

func requireAttempts(t *testing.T, got []Attempt, endpoint string, wants ...want) {
	t.Helper()
	require.Len(t, got, len(wants))
	for i, w := range wants {
		a := got[i]
		require.Equal(t, "testex", a.Exchange)
		require.Equal(t, endpoint, a.Endpoint)
		require.Equal(t, i+1, a.Attempt, "attempt %d", i)
		require.Equal(t, w.status, a.HTTPStatus, "attempt %d", i+1)
		require.Equal(t, w.outcome, a.Outcome, "attempt %d", i+1)
		require.Equal(t, w.category, a.ErrorCategory, "attempt %d", i+1)
		require.Positive(t, a.Latency)
		require.False(t, a.Time.IsZero())
	}
}

func krakenCheck(body []byte) error {
	switch {
	case strings.Contains(string(body), "EAPI:Rate limit exceeded"):
		return fmt.Errorf("kraken: %w", exchange.ErrBodyRateLimited)
	case strings.Contains(string(body), `"error":["E`):
		return fmt.Errorf("kraken: %w", exchange.ErrBodyError)
	}
	return nil
}

func TestGet(t *testing.T) {
	big := `"` + strings.Repeat("x", 4094) + `"` // a JSON string of 4096 bytes
	ok := want{200, OutcomeOK, ""}
	tests := []struct {
		name    string
		steps   []step
		opts    func(*Options)
		body    string
		wantErr []error // all must match with errors.Is; nil: success
		status  int     // StatusError.Status, if an error
		want    []want
	}{
		{
			name:  "success",
			steps: []step{{body: `{"ok":true}`}},
			body:  `{"ok":true}`,
			want:  []want{ok},
		},
		{
			name:  "5xx then success is retried",
			steps: []step{{status: 503}, {status: 502}, {body: `"fine"`}},
			body:  `"fine"`,
			want:  []want{{503, OutcomeRetry, CategoryServer}, {502, OutcomeRetry, CategoryServer}, ok},
		},
		{
			name:    "5xx until attempts run out",
			steps:   []step{{status: 500, body: "boom"}},
			wantErr: []error{},
			status:  500,
			want:    []want{{500, OutcomeRetry, CategoryServer}, {500, OutcomeRetry, CategoryServer}, {500, OutcomeError, CategoryServer}},
		},
		{
			name:    "400 is not retried",
			steps:   []step{{status: 400, body: `{"code":-1121,"msg":"Invalid symbol."}`}},
			wantErr: []error{},
			status:  400,
			want:    []want{{400, OutcomeError, CategoryClient}},
		},
		{
			name:  "429 without Retry-After is retried with backoff",
			steps: []step{{status: 429}, {body: `"fine"`}},
			body:  `"fine"`,
			want:  []want{{429, OutcomeRetry, CategoryRateLimited}, ok},
		},
		{
			name:    "429 with a Retry-After above the cap fails at once",
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "3600"}}},
			wantErr: []error{ErrRateLimited},
			status:  429,
			want:    []want{{429, OutcomeError, CategoryRateLimited}},
		},
		{
			name:  "rate limit reported in the body is retried",
			steps: []step{{body: `{"error":["EAPI:Rate limit exceeded"]}`}, {body: `{"error":[],"result":{}}`}},
			opts:  func(o *Options) { o.CheckBody = krakenCheck },
			body:  `{"error":[],"result":{}}`,
			want:  []want{{200, OutcomeRetry, CategoryRateLimited}, ok},
		},
		{
			name:    "error reported in the body is not retried",
			steps:   []step{{body: `{"error":["EQuery:Unknown asset pair"]}`}},
			opts:    func(o *Options) { o.CheckBody = krakenCheck },
			wantErr: []error{exchange.ErrBodyError},
			status:  200,
			want:    []want{{200, OutcomeError, CategoryClient}},
		},
		{
			name:    "oversized body with Content-Length",
			steps:   []step{{body: big}},
			opts:    func(o *Options) { o.MaxBodyBytes = 1024 },
			wantErr: []error{ErrBodyTooLarge},
			want:    []want{{200, OutcomeError, CategoryDecode}},
		},
		{
			name:    "oversized chunked body is cut off",
			steps:   []step{{body: big, chunked: true}},
			opts:    func(o *Options) { o.MaxBodyBytes = 1024 },
			wantErr: []error{ErrBodyTooLarge},
			want:    []want{{200, OutcomeError, CategoryDecode}},
		},
		{
			name:  "body at the limit is fine",
			steps: []step{{body: big[:1023] + `"`, chunked: true}},
			opts:  func(o *Options) { o.MaxBodyBytes = 1024 },
			body:  big[:1023] + `"`,
			want:  []want{ok},
		},
		{
			name:    "timeout is retried",
			steps:   []step{{hang: true}},
			opts:    func(o *Options) { o.Timeout = 20 * time.Millisecond; o.Retry.MaxAttempts = 2 },
			wantErr: []error{context.DeadlineExceeded},
			want:    []want{{0, OutcomeRetry, CategoryTimeout}, {0, OutcomeError, CategoryTimeout}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := serve(t, tt.steps...)
			c, rec := newClient(t, srv.URL+"/prefix", tt.opts)
			body, err := c.Get(testCtx(t), exchange.Request{Endpoint: "thing", Path: "/api/thing?x=1"})
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.body, string(body))
			} else {
				require.Error(t, err)
				for _, target := range tt.wantErr {
					require.ErrorIs(t, err, target)
				}
				if tt.status != 0 {
					var se *StatusError
					require.ErrorAs(t, err, &se)
					require.Equal(t, tt.status, se.Status)
				}
			}
			require.Equal(t, len(tt.want), s.hits(), "requests sent")
			for _, u := range s.urls {
				require.Equal(t, "/prefix/api/thing?x=1", u)
			}
			requireAttempts(t, rec.all(), "thing", tt.want...)
			require.Equal(t, StateClosed, c.State())
		})
	}
}

func TestStatusErrorBodySnippet(t *testing.T) {
	srv, _ := serve(t, step{status: 400, body: `{"msg":"bad"}` + strings.Repeat("y", 2000)})
	c, _ := newClient(t, srv.URL, nil)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "e", Path: "/"})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, CategoryClient, se.Category)
	require.False(t, se.Retryable())
	require.Len(t, se.Body, snippetLimit)
	require.True(t, strings.HasPrefix(se.Body, `{"msg":"bad"}`))
	require.NotErrorIs(t, err, ErrRateLimited)
}

// fakeClockSetup builds a client and a real limiter on one fake clock.
func fakeClockSetup(t *testing.T, srv *httptest.Server, mods ...func(*Options)) (*Client, *ratelimit.Limiter, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(epoch)
	if s, ok := srv.Config.Handler.(*script); ok {
		s.mu.Lock()
		s.clock = clock // the server's clock is the client's
		s.mu.Unlock()
	}
	lim, err := ratelimit.New(ratelimit.Options{Exchange: "testex", Limit: 6000, Window: time.Minute, Burst: 100, Clock: clock})
	require.NoError(t, err)
	c, _ := newClient(t, srv.URL, func(o *Options) {
		o.Clock = clock
		o.Limiter = lim
		o.UsedWeightHeader = "X-MBX-USED-WEIGHT-1M"
		for _, mod := range mods {
			mod(o)
		}
	})
	return c, lim, clock
}

type result struct {
	body []byte
	err  error
}

func getAsync(ctx context.Context, wg *sync.WaitGroup, c *Client, r exchange.Request) <-chan result {
	ch := make(chan result, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		b, err := c.Get(ctx, r)
		ch <- result{b, err}
	}()
	return ch
}

func recv(t *testing.T, ctx context.Context, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatal("timed out waiting for Get")
		return result{}
	}
}

func TestRetryAfterFreezesTheWholeExchange(t *testing.T) {
	ctx := testCtx(t)
	srv, s := serve(t, step{status: 429, header: map[string]string{"Retry-After": "7"}}, step{body: `"ok"`})
	c, lim, clock := fakeClockSetup(t, srv)
	req := exchange.Request{Endpoint: "ticker", Path: "/ticker"}

	var wg sync.WaitGroup
	defer wg.Wait()
	first := getAsync(ctx, &wg, c, req)
	require.NoError(t, clock.BlockUntilContext(ctx, 1)) // first sleeps until the Retry-After
	require.Equal(t, 1, s.hits())
	require.True(t, epoch.Add(7*time.Second).Equal(lim.FrozenUntil()), "frozen until %v", lim.FrozenUntil())

	// Another request for the same exchange waits for the freeze too.
	second := getAsync(ctx, &wg, c, req)
	require.Eventually(t, func() bool { return lim.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, clock.BlockUntilContext(ctx, 2))
	clock.Advance(6 * time.Second)
	require.Equal(t, 1, s.hits(), "nothing is sent while frozen")
	require.Equal(t, 1, lim.Waiting())

	clock.Advance(time.Second)
	for _, ch := range []<-chan result{first, second} {
		r := recv(t, ctx, ch)
		require.NoError(t, r.err)
		require.Equal(t, `"ok"`, string(r.body))
	}
	require.Equal(t, 3, s.hits())
}

func TestBanFreezesTheExchange(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		frozen time.Duration
	}{
		{"with Retry-After seconds", map[string]string{"Retry-After": "120"}, 120 * time.Second},
		{"with Retry-After date", map[string]string{"Retry-After": epoch.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"without Retry-After", nil, DefaultBanFreeze},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv, s := serve(t, step{status: 418, header: tt.header}, step{body: `"ok"`})
			// Freezes up to MaxRetryAfter are waited out; longer ones fail
			// fast (TestLongFreezeFailsFast).
			c, lim, clock := fakeClockSetup(t, srv, func(o *Options) { o.Retry.MaxRetryAfter = 10 * time.Minute })
			req := exchange.Request{Endpoint: "klines", Path: "/klines"}

			_, err := c.Get(ctx, req)
			require.ErrorIs(t, err, ErrBanned)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, CategoryBanned, se.Category)
			require.False(t, se.Retryable())
			require.Equal(t, 1, s.hits(), "a ban is not retried")
			require.True(t, epoch.Add(tt.frozen).Equal(lim.FrozenUntil()), "frozen until %v", lim.FrozenUntil())

			var wg sync.WaitGroup
			defer wg.Wait()
			next := getAsync(ctx, &wg, c, req)
			require.Eventually(t, func() bool { return lim.Waiting() == 1 }, 5*time.Second, time.Millisecond)
			require.NoError(t, clock.BlockUntilContext(ctx, 1))
			clock.Advance(tt.frozen - time.Second)
			require.Equal(t, 1, s.hits())
			clock.Advance(time.Second)
			require.NoError(t, recv(t, ctx, next).err)
			require.Equal(t, 2, s.hits())
		})
	}
}

func TestLongFreezeFailsFast(t *testing.T) {
	ctx := testCtx(t)
	srv, s := serve(t, step{status: 418, header: map[string]string{"Retry-After": "3600"}})
	c, lim, _ := fakeClockSetup(t, srv)
	req := exchange.Request{Endpoint: "klines", Path: "/klines"}
	_, err := c.Get(ctx, req)
	require.ErrorIs(t, err, ErrBanned)
	require.True(t, epoch.Add(time.Hour).Equal(lim.FrozenUntil()))

	for range 3 {
		_, err = c.Get(ctx, req)
		require.ErrorIs(t, err, ErrFrozen)
		require.Contains(t, err.Error(), "2030-01-01T01:00:00Z")
	}
	require.Equal(t, 1, s.hits())
	require.Zero(t, lim.Waiting())
	require.Equal(t, StateClosed, c.State(), "ErrFrozen does not count as a failure: the ban already did once")
}

func TestUsedWeightHeaderCorrectsLimiter(t *testing.T) {
	srv, _ := serve(t, step{body: "[]", header: map[string]string{"X-MBX-USED-WEIGHT-1M": "5990"}})
	c, lim, _ := fakeClockSetup(t, srv)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "klines", Path: "/klines", Weight: 2})
	require.NoError(t, err)
	require.Equal(t, 5990.0, lim.Used(), "the server's count replaces our 2")
}

func TestUsedWeightHeaderOnErrorResponses(t *testing.T) {
	srv, _ := serve(t, step{status: 400, header: map[string]string{"X-MBX-USED-WEIGHT-1M": "1234"}})
	c, lim, _ := fakeClockSetup(t, srv)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "klines", Path: "/klines"})
	require.Error(t, err)
	require.Equal(t, 1234.0, lim.Used())
}

// spyLimiter records what the client asks of its limiter, in front of an
// unlimited one.
type spyLimiter struct {
	*ratelimit.Limiter
	mu    sync.Mutex
	waits []string // "priority/cost"
}

func (l *spyLimiter) Acquire(ctx context.Context, cost int) (*ratelimit.Ticket, error) {
	l.mu.Lock()
	l.waits = append(l.waits, fmt.Sprintf("%s/%d", priority.From(ctx), cost))
	l.mu.Unlock()
	return l.Limiter.Acquire(ctx, cost)
}

func newSpy(t *testing.T) *spyLimiter {
	t.Helper()
	lim, err := ratelimit.New(ratelimit.Options{Exchange: "spy"})
	require.NoError(t, err)
	return &spyLimiter{Limiter: lim}
}

func TestLimiterGetsWeightAndPriorityPerAttempt(t *testing.T) {
	srv, _ := serve(t, step{status: 500}, step{body: `"ok"`})
	spy := newSpy(t)
	c, _ := newClient(t, srv.URL, func(o *Options) { o.Limiter = spy })
	ctx := priority.With(testCtx(t), priority.Critical)
	_, err := c.Get(ctx, exchange.Request{Endpoint: "depth", Path: "/depth", Weight: 20})
	require.NoError(t, err)
	_, err = c.Get(testCtx(t), exchange.Request{Endpoint: "time", Path: "/time"})
	require.NoError(t, err)
	require.Equal(t, []string{"critical/20", "critical/20", "medium/1"}, spy.waits)
}

func TestBreaker(t *testing.T) {
	ctx := testCtx(t)
	srv, s := serve(t, step{status: 500})
	reg := prometheus.NewRegistry()
	c, rec := newClient(t, srv.URL, func(o *Options) {
		o.Retry.MaxAttempts = 1
		o.Breaker = BreakerSettings{FailureThreshold: 2, OpenTimeout: 20 * time.Millisecond}
		o.Registerer = reg
	})
	req := exchange.Request{Endpoint: "ticker", Path: "/ticker"}
	gauge := func() float64 { return gaugeValue(t, reg, "exchange_circuit_state") }

	for range 2 {
		_, err := c.Get(ctx, req)
		require.NotErrorIs(t, err, ErrCircuitOpen)
	}
	require.Equal(t, StateOpen, c.State())
	require.True(t, c.Degraded())
	require.Equal(t, 2.0, gauge())

	_, err := c.Get(ctx, req)
	require.ErrorIs(t, err, ErrCircuitOpen)
	require.Equal(t, 2, s.hits(), "an open circuit sends nothing")
	require.Len(t, rec.all(), 2, "no attempt, no record")
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.requests.WithLabelValues("testex", "ticker", "error", "circuit_open")))

	// After OpenTimeout it lets a probe through.
	require.Eventually(t, func() bool { return c.State() == StateHalfOpen }, 5*time.Second, time.Millisecond)
	require.Equal(t, 1.0, gauge())
	require.True(t, c.Degraded())
	s.set(step{body: `"ok"`})
	_, err = c.Get(ctx, req)
	require.NoError(t, err)
	require.Equal(t, StateClosed, c.State())
	require.False(t, c.Degraded())
	require.Equal(t, 0.0, gauge())
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := serve(t, step{status: 503})
	c, _ := newClient(t, srv.URL, func(o *Options) {
		o.Retry.MaxAttempts = 1
		o.Breaker = BreakerSettings{FailureThreshold: 1, OpenTimeout: 20 * time.Millisecond}
	})
	req := exchange.Request{Endpoint: "ticker", Path: "/ticker"}
	_, err := c.Get(ctx, req)
	require.Error(t, err)
	require.Equal(t, StateOpen, c.State())
	require.Eventually(t, func() bool { return c.State() == StateHalfOpen }, 5*time.Second, time.Millisecond)
	_, err = c.Get(ctx, req)
	require.NotErrorIs(t, err, ErrCircuitOpen)
	require.Equal(t, StateOpen, c.State())
}

func TestBreakerIgnoresClientErrorsAndRateLimits(t *testing.T) {
	tests := []struct {
		name string
		step step
	}{
		{"400", step{status: 400}},
		{"404", step{status: 404}},
		{"429", step{status: 429}},
		{"body rate limit", step{body: `{"error":["EAPI:Rate limit exceeded"]}`}},
		{"oversized body", step{body: strings.Repeat("z", 100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := serve(t, tt.step)
			c, _ := newClient(t, srv.URL, func(o *Options) {
				o.Retry.MaxAttempts = 1
				o.Breaker = BreakerSettings{FailureThreshold: 1}
				o.CheckBody = krakenCheck
				o.MaxBodyBytes = 50
			})
			for range 3 {
				_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "e", Path: "/"})
				require.Error(t, err)
				require.NotErrorIs(t, err, ErrCircuitOpen)
			}
			require.Equal(t, 3, s.hits())
			require.Equal(t, StateClosed, c.State())
		})
	}
}

func TestCallerCancelDoesNotRetryOrTrip(t *testing.T) {
	inflight := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		inflight <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c, rec := newClient(t, srv.URL, func(o *Options) {
		o.Breaker = BreakerSettings{FailureThreshold: 1}
	})
	for range 2 {
		ctx, cancel := context.WithCancel(testCtx(t))
		go func() {
			<-inflight // cancel once the request is in flight
			cancel()
		}()
		_, err := c.Get(ctx, exchange.Request{Endpoint: "e", Path: "/"})
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrCircuitOpen)
	}
	require.Equal(t, StateClosed, c.State())
	got := rec.all()
	require.Len(t, got, 2, "one attempt each, no retry")
	for _, a := range got {
		require.Equal(t, OutcomeError, a.Outcome)
		require.Equal(t, CategoryCanceled, a.ErrorCategory)
	}
}

func TestInvalidJSONIsADecodeFailure(t *testing.T) {
	srv, _ := serve(t, step{body: `{"result": [1, 2`})
	c, rec := newClient(t, srv.URL, nil)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "klines", Path: "/"})
	var de *exchange.DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, `{"result": [1, 2`, string(de.Payload), "the payload is kept whole for ops.rejected_rows")
	require.Equal(t, "klines", de.Endpoint)
	requireAttempts(t, rec.all(), "klines", want{200, OutcomeError, CategoryDecode})
}

func TestTLSVerificationIsAlwaysOn(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `"secret"`)
	}))
	// The server's own log of the refused handshake is noise here.
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c, rec := newClient(t, srv.URL, nil)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "e", Path: "/"})
	require.Error(t, err)
	require.True(t, isCertificateError(err), "got %v", err)
	requireAttempts(t, rec.all(), "e", want{0, OutcomeError, CategoryNetwork})

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, _ = newClient(t, srv.URL, func(o *Options) { o.RootCAs = pool })
	body, err := c.Get(testCtx(t), exchange.Request{Endpoint: "e", Path: "/"})
	require.NoError(t, err)
	require.Equal(t, `"secret"`, string(body))
}

func TestNewValidatesBaseURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://api.binance.com", true},
		{"https://api.kraken.com/0/public/", true},
		{"http://127.0.0.1:8700/binance", true},
		{"http://127.8.9.10", true},
		{"http://localhost:8700", true},
		{"http://[::1]:8700/okx", true},
		{"http://api.binance.com", false},
		{"http://10.0.0.1:8700/binance", false},
		{"http://127.0.0.1.example.com", false},
		{"ftp://127.0.0.1/x", false},
		{"", false},
		{"https://api.binance.com/?x=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := New(Options{Exchange: "x", BaseURL: tt.url})
			if tt.ok {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.Contains(t, err.Error(), fmt.Sprintf("%q", tt.url))
		})
	}
	_, err := New(Options{BaseURL: "https://x"})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestRedirectToPlainHTTPIsRefused(t *testing.T) {
	srv, s := serve(t, step{status: http.StatusFound, header: map[string]string{"Location": "http://example.com/x"}})
	c, rec := newClient(t, srv.URL, nil)
	_, err := c.Get(testCtx(t), exchange.Request{Endpoint: "e", Path: "/"})
	require.ErrorIs(t, err, errInsecureURL)
	require.Equal(t, 1, s.hits())
	requireAttempts(t, rec.all(), "e", want{0, OutcomeError, CategoryClient})
}

func TestMetrics(t *testing.T) {
	srv, _ := serve(t, step{status: 502}, step{body: `"ok"`})
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, func(o *Options) { o.Registerer = reg })
	// A second client on the same registerer shares the collectors.
	other, err := New(Options{Exchange: "other", BaseURL: srv.URL, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(other.Close)

	_, err = c.Get(testCtx(t), exchange.Request{Endpoint: "klines", Path: "/"})
	require.NoError(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.requests.WithLabelValues("testex", "klines", "retry", "server")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.requests.WithLabelValues("testex", "klines", "ok", "none")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.retries.WithLabelValues("testex", "klines")))
	require.Equal(t, 1, testutil.CollectAndCount(reg, "exchange_request_duration_seconds"))
	require.Equal(t, 2, testutil.CollectAndCount(reg, "exchange_circuit_state"), "one per exchange")
}

func TestParseRetryAfter(t *testing.T) {
	now := epoch
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 30 ", 30 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
		{"99999999999999999", 30 * 24 * time.Hour},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		require.Equal(t, tt.want, parseRetryAfter(h, now), "Retry-After %q", tt.value)
	}
}

func TestCategorize(t *testing.T) {
	tests := []struct {
		err  error
		want Category
		retr bool
	}{
		{&StatusError{Status: 503, Category: CategoryServer}, CategoryServer, true},
		{fmt.Errorf("x: %w", &StatusError{Status: 429, Category: CategoryRateLimited}), CategoryRateLimited, true},
		{&StatusError{Status: 418, Category: CategoryBanned}, CategoryBanned, false},
		{&StatusError{Status: 404, Category: CategoryClient}, CategoryClient, false},
		{fmt.Errorf("x: %w", ErrBodyTooLarge), CategoryDecode, false},
		{context.DeadlineExceeded, CategoryTimeout, true},
		{context.Canceled, CategoryCanceled, false},
		{errors.New("connection reset by peer"), CategoryNetwork, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, categorize(tt.err), "%v", tt.err)
		require.Equal(t, tt.retr, retryable(tt.err), "%v", tt.err)
	}
	for status, want := range map[int]Category{400: CategoryClient, 403: CategoryClient, 418: CategoryBanned, 429: CategoryRateLimited, 500: CategoryServer, 504: CategoryServer} {
		require.Equal(t, want, statusCategory(status), "status %d", status)
	}
}

// gaugeValue reads the single sample of a gauge from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestSpecWiring builds a limiter and a client for one exchange the way the
// composition root does.
func TestSpecWiring(t *testing.T) {
	srv, s := serve(t, step{body: `{"serverTime":1}`, header: map[string]string{"X-MBX-USED-WEIGHT-1M": "42"}})
	spec := exchange.Spec{
		ID:      "binance",
		BaseURL: srv.URL + "/binance",
		RateLimit: exchange.RateLimit{
			Unit: "weight", Limit: 6000, Window: time.Minute, Burst: 100, UsedHeader: "X-MBX-USED-WEIGHT-1M",
		},
		CheckBody: func([]byte) error { return nil },
	}
	clock := clockwork.NewFakeClockAt(epoch)
	reg := prometheus.NewRegistry()
	lim, err := ratelimit.New(ratelimit.Options{
		Exchange: spec.ID, Limit: spec.RateLimit.Limit, Window: spec.RateLimit.Window,
		Burst: spec.RateLimit.Burst, Registerer: reg, Clock: clock,
	})
	require.NoError(t, err)
	opts := SpecOptions(spec)
	opts.Limiter, opts.Registerer, opts.Clock = lim, reg, clock
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)

	var r exchange.Requester = c
	body, err := r.Get(priority.With(testCtx(t), priority.High), exchange.Request{Endpoint: "time", Path: "api/v3/time", Weight: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"serverTime":1}`, string(body))
	require.Equal(t, []string{"/binance/api/v3/time"}, s.urls)
	require.Equal(t, 42.0, lim.Used())
}
