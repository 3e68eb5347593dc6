// Package server is the daemon's HTTP side: /metrics for Prometheus,
// /healthz while the process lives, /readyz while its dependencies answer,
// and /status with what the scheduler and friends report.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Errors.
var (
	ErrNoGatherer   = errors.New("server needs a metrics gatherer")
	ErrShuttingDown = errors.New("shutting down")
	errNoReadyCheck = errors.New("no readiness check configured")
)

const maxHeaderBytes = 1 << 16

var defaultTimeouts = timeouts{read: 10 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute, shutdown: 10 * time.Second, ready: 3 * time.Second}

type timeouts struct{ read, write, idle, shutdown, ready time.Duration }

// Options configure a Server. Zero timeouts take the defaults.
type Options struct {
	Addr     string // e.g. "127.0.0.1:9108"
	Gatherer prometheus.Gatherer
	// Ready returns nil when the daemon can do its work (database reachable,
	// migrations current); nil Ready makes /readyz always 503.
	Ready func(ctx context.Context) error
	// Degraded names what /readyz lists while ready but not whole, e.g.
	// exchanges still without their market list; nil: nothing.
	Degraded func() []string
	// Status returns the JSON body of /status; nil serves {}.
	Status func() any
	Logger *slog.Logger

	ReadTimeout     time.Duration // default 10s
	WriteTimeout    time.Duration // default 30s
	IdleTimeout     time.Duration // default 2m
	ShutdownTimeout time.Duration // default 10s: in-flight requests after ctx ends
	ReadyTimeout    time.Duration // default 3s: bound on one Ready call
}

// Server serves the endpoints.
type Server struct {
	opts     Options
	t        timeouts
	logger   *slog.Logger
	handler  http.Handler
	stopping atomic.Bool
}

// New checks opts and builds the handler.
func New(opts Options) (*Server, error) {
	if opts.Gatherer == nil {
		return nil, ErrNoGatherer
	}
	t := defaultTimeouts
	for _, p := range []struct {
		v   time.Duration
		dst *time.Duration
	}{{opts.ReadTimeout, &t.read}, {opts.WriteTimeout, &t.write}, {opts.IdleTimeout, &t.idle}, {opts.ShutdownTimeout, &t.shutdown}, {opts.ReadyTimeout, &t.ready}} {
		if p.v < 0 {
			return nil, fmt.Errorf("negative server timeout %s", p.v)
		}
		if p.v > 0 {
			*p.dst = p.v
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, t: t, logger: logger.With("component", "server")}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	s.handler = mux
	return s, nil
}

// Handler serves the endpoints (tests mount it on httptest).
func (s *Server) Handler() http.Handler { return s.handler }

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	err := errNoReadyCheck
	switch {
	case s.stopping.Load():
		err = ErrShuttingDown // let load balancers move away first
	case s.opts.Ready != nil:
		ctx, cancel := context.WithTimeout(r.Context(), s.t.ready)
		err = s.opts.Ready(ctx)
		cancel()
	}
	if err != nil {
		text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if s.opts.Degraded != nil {
		if d := s.opts.Degraded(); len(d) > 0 {
			text(w, http.StatusOK, "ready; degraded: "+strings.Join(d, ", "))
			return
		}
	}
	text(w, http.StatusOK, "ready")
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	var v any = struct{}{}
	if s.opts.Status != nil {
		v = s.opts.Status()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.logger.Error("encoding status", "err", err)
		text(w, http.StatusInternalServerError, "encoding status: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}

// Run listens on Addr and serves until ctx ends, then shuts down
// gracefully within ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := Listen(ctx, s.opts.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen opens addr for Serve, so that a daemon can fail at start, naming
// the address, when it is taken, rather than run without its endpoints.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves on ln (closed on return) until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadTimeout:       s.t.read,
		ReadHeaderTimeout: s.t.read / 2,
		WriteTimeout:      s.t.write,
		IdleTimeout:       s.t.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.logger.Info("http listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), s.t.shutdown)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutting down http: %w", err)
	}
	return nil
}
