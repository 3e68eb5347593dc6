package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/httpclient"
)

// ErrNoRoute is returned by Requester.Get when no route matches the path.
var ErrNoRoute = errors.New("exchangetest: no route for request")

// Requester is a fake exchange.Requester answering from routes keyed by path
// prefix (the longest matching prefix wins) or from a func, and recording
// every request. Safe for concurrent use.
type Requester struct {
	mu       sync.Mutex
	routes   map[string][]byte
	fn       func(exchange.Request) ([]byte, error)
	override []byte
	requests []exchange.Request
}

// NewRequester returns a fake answering each path prefix with its body.
func NewRequester(routes map[string]string) *Requester {
	r := &Requester{routes: make(map[string][]byte, len(routes))}
	for p, b := range routes {
		r.routes[p] = []byte(b)
	}
	return r
}

// FuncRequester returns a fake answering with fn.
func FuncRequester(fn func(exchange.Request) ([]byte, error)) *Requester {
	return &Requester{routes: map[string][]byte{}, fn: fn}
}

// Handle adds or replaces a route.
func (r *Requester) Handle(prefix string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[prefix] = body
}

// AnswerAll makes every request get body until Reset; the conformance suite
// uses it to feed malformed bodies.
func (r *Requester) AnswerAll(body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.override = body
}

// Reset undoes AnswerAll and forgets recorded requests.
func (r *Requester) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.override = nil
	r.requests = nil
}

// Get records the request and answers it.
func (r *Requester) Get(ctx context.Context, req exchange.Request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.requests = append(r.requests, req)
	override, fn := r.override, r.fn
	best, body := -1, []byte(nil)
	for p, b := range r.routes {
		if strings.HasPrefix(req.Path, p) && len(p) > best {
			best, body = len(p), b
		}
	}
	r.mu.Unlock()
	switch {
	case override != nil:
		return override, nil
	case best >= 0:
		return body, nil
	case fn != nil:
		return fn(req)
	}
	return nil, fmt.Errorf("%w: %s", ErrNoRoute, req.Path)
}

// Requests returns the recorded requests, oldest first.
func (r *Requester) Requests() []exchange.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange.Request(nil), r.requests...)
}

// Last returns the most recent request; the zero Request when there is none.
func (r *Requester) Last() exchange.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		return exchange.Request{}
	}
	return r.requests[len(r.requests)-1]
}

// HTTPRequester is the real HTTP client built from spec, as the daemon
// builds it, on a server that answers every request with body (HTTP 200),
// without retries: the place where a 2xx body reporting an error fails
// (Spec.CheckBody), which connectors leave to it.
func HTTPRequester(t testing.TB, spec exchange.Spec, body string) exchange.Requester {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	o := httpclient.SpecOptions(spec)
	o.BaseURL, o.Retry = srv.URL, httpclient.RetryPolicy{MaxAttempts: 1}
	hc, err := httpclient.New(o)
	if err != nil {
		t.Fatalf("http client for %s: %v", spec.ID, err)
	}
	t.Cleanup(hc.Close)
	return hc
}

// CheckBodyCases runs an exchange's Spec.CheckBody on each body: a nil
// want means the body is data; otherwise the error must be the want
// (exchange.ErrBodyRateLimited or exchange.ErrBodyError), and an API error
// must not pass for a rate limit, which the HTTP client would retry.
func CheckBodyCases(t *testing.T, check func([]byte) error, cases map[string]error) {
	t.Helper()
	for body, want := range cases {
		err := check([]byte(body))
		if want == nil {
			require.NoError(t, err, body)
			continue
		}
		require.ErrorIs(t, err, want, body)
		if !errors.Is(want, exchange.ErrBodyRateLimited) {
			require.NotErrorIs(t, err, exchange.ErrBodyRateLimited, body)
		}
	}
}
