package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mdingest_rows_fetched_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(7)
	var readyErr atomic.Pointer[error]
	var degraded atomic.Pointer[[]string]
	s, err := server.New(server.Options{
		Degraded: func() []string {
			if p := degraded.Load(); p != nil {
				return *p
			}
			return nil
		},
		Gatherer: reg,
		Ready: func(ctx context.Context) error {
			if p := readyErr.Load(); p != nil {
				return *p
			}
			return nil
		},
		Status: func() any {
			return map[string]any{"jobs": []map[string]any{{"name": "tickers/binance", "last_outcome": "ok"}}, "cache": "redis"}
		},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	code, body, _ := get(t, ts.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "mdingest_rows_fetched_total 7")

	code, body, _ = get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready\n", body)
	degraded.Store(&[]string{"binance", "kraken"})
	code, body, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code, "ready, but not whole")
	require.Equal(t, "ready; degraded: binance, kraken\n", body)
	down := errors.New("database unreachable")
	readyErr.Store(&down)
	code, body, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "database unreachable")
	code, _, _ = get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code, "alive even when not ready")

	code, body, hdr := get(t, ts.URL+"/status")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	var st struct {
		Jobs  []map[string]string `json:"jobs"`
		Cache string              `json:"cache"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "redis", st.Cache)
	require.Equal(t, "tickers/binance", st.Jobs[0]["name"])

	code, _, _ = get(t, ts.URL+"/nope")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := http.Post(ts.URL+"/healthz", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestReadyWithoutCheckIsNotReady(t *testing.T) {
	s, err := server.New(server.Options{Gatherer: prometheus.NewRegistry()})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{}`, rec.Body.String())
}

func TestReadyCheckIsBounded(t *testing.T) {
	s, err := server.New(server.Options{Gatherer: prometheus.NewRegistry(), ReadyTimeout: 10 * time.Millisecond,
		Ready: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "deadline exceeded")
}

func TestStatusEncodingError(t *testing.T) {
	s, err := server.New(server.Options{Gatherer: prometheus.NewRegistry(), Status: func() any { return func() {} }})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := server.New(server.Options{})
	require.ErrorIs(t, err, server.ErrNoGatherer)
	_, err = server.New(server.Options{Gatherer: prometheus.NewRegistry(), ReadTimeout: -1})
	require.Error(t, err)
}

// Serve answers until ctx ends, lets an in-flight request finish, then
// returns nil and stops accepting connections.
func TestServeShutsDownGracefully(t *testing.T) {
	inFlight := make(chan struct{})
	finish := make(chan struct{})
	s, err := server.New(server.Options{Gatherer: prometheus.NewRegistry(), Status: func() any {
		close(inFlight)
		<-finish
		return map[string]int{"queue_depth": 3}
	}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	code, _, _ := get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, code)

	type result struct {
		code int
		body string
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/status")
		if err != nil {
			slow <- result{code: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(b)}
	}()
	<-inFlight
	cancel()
	close(finish)
	r := <-slow
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.JSONEq(t, `{"queue_depth":3}`, r.body)
	require.NoError(t, <-done)

	_, err = http.Get(url + "/healthz")
	require.Error(t, err, "closed after shutdown")
	http.DefaultClient.CloseIdleConnections()
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s, err := server.New(server.Options{Gatherer: prometheus.NewRegistry(), Addr: ln.Addr().String()})
	require.NoError(t, err)
	require.ErrorContains(t, s.Run(context.Background()), "listening on")
}

func TestListenNamesTheTakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = server.Listen(context.Background(), ln.Addr().String())
	require.ErrorContains(t, err, "listening on "+ln.Addr().String())
}
