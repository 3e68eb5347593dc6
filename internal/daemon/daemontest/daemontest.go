// Package daemontest runs the daemon in-process for tests, in the spirit
// of net/http/httptest: a configuration against an in-process replay
// (see replay/replaytest), and Start, which runs daemon.Run until the test
// ends and keeps its log for the failure message.
package daemontest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/market"
)

// The tier intervals of Config: short, so that every job runs within a
// test.
const (
	RealtimeEvery = time.Second
	HighEvery     = 2 * time.Second
	MediumEvery   = 2 * time.Second
	LowEvery      = 5 * time.Second
)

// WaitFor bounds the waits here: generous, as tests share the cores with
// each other and with the race detector.
const WaitFor = 30 * time.Second

// Config enables the exchanges against the replay at replayURL, with BTC
// and ETH against USDT, short job intervals, a free listen address and a
// spool of the test's own.
func Config(tb testing.TB, replayURL, dbURL string, exchanges ...string) config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = config.Secret(dbURL)
	cfg.Listen = FreeAddr(tb)
	cfg.Instance = "test"
	cfg.Store.SpoolDir = tb.TempDir() // not the user's cache directory
	cfg.Jobs.Realtime = config.Duration(RealtimeEvery)
	cfg.Jobs.High = config.Duration(HighEvery)
	cfg.Jobs.Medium = config.Duration(MediumEvery)
	cfg.Jobs.Low = config.Duration(LowEvery)
	cfg.Jobs.Jitter = config.Duration(100 * time.Millisecond)
	cfg.Store.FlushInterval = config.Duration(250 * time.Millisecond)
	for id, e := range cfg.Exchanges {
		e.Enabled = false
		cfg.Exchanges[id] = e
	}
	for _, id := range exchanges {
		e := cfg.Exchanges[id]
		e.Enabled = true
		e.BaseURL = replayURL + "/" + id
		e.Symbols = []market.Symbol{"BTC/USDT", "ETH/USDT"}
		// Kraken's real budget is one call a second: too slow for short
		// ticks. Rate limiting has its own tests.
		e.RateLimit = config.RateLimitConfig{Limit: 200, Window: config.Duration(time.Second), Burst: 50}
		cfg.Exchanges[id] = e
	}
	require.NoError(tb, cfg.Validate())
	return cfg
}

// FreeAddr returns a loopback address nobody listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := ln.Addr().String()
	require.NoError(tb, ln.Close())
	return addr
}

// Buffer is a bytes.Buffer safe for concurrent writers: a daemon's log, a
// child process's output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Daemon is daemon.Run in a goroutine.
type Daemon struct {
	Config config.Config
	Log    *Buffer // JSON lines
	cancel context.CancelFunc
	done   chan error
}

// Start runs the daemon, logging at level, until Stop or the test's end,
// and returns once it answers /healthz. The log is printed if the test
// failed.
func Start(tb testing.TB, cfg config.Config, level slog.Level) *Daemon {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{Config: cfg, Log: &Buffer{}, cancel: cancel, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(d.Log, &slog.HandlerOptions{Level: level}))
	go func() { d.done <- daemon.Run(ctx, cfg, logger) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-d.done:
			d.done <- err
		case <-time.After(daemon.DrainTimeout + 15*time.Second):
			tb.Errorf("daemon %s did not stop", cfg.Instance)
		}
		if tb.Failed() {
			tb.Logf("daemon %s log:\n%s", cfg.Instance, d.Log.String())
		}
	})
	WaitHealthy(tb, cfg.Listen, d.done)
	return d
}

// Stop cancels the daemon and returns Run's result.
func (d *Daemon) Stop(tb testing.TB) error {
	tb.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(daemon.DrainTimeout + 15*time.Second):
		tb.Fatalf("daemon %s did not stop; log:\n%s", d.Config.Instance, d.Log.String())
		return nil
	}
}

// Get fetches path from the daemon's HTTP server.
func (d *Daemon) Get(tb testing.TB, path string) (int, []byte) {
	tb.Helper()
	resp, err := http.Get("http://" + d.Config.Listen + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, b.Bytes()
}

// WaitHealthy waits until a daemon answers /healthz on addr, failing early
// if a value arrives on done (its Run returned; the value is put back).
func WaitHealthy(tb testing.TB, addr string, done chan error) {
	tb.Helper()
	deadline := time.Now().Add(WaitFor)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			tb.Fatalf("daemon stopped at start: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("daemon never answered on %s", addr)
}
