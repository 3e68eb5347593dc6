// Command exchange-replay serves recorded exchange REST responses on the
// exchanges' real paths, under http://ADDR/<exchange>/, for tests and
// offline demos. Derived data is marked with the X-Replay-Synthetic header.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mdingest/mdingest/internal/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// faultFlags collects repeated --fault values.
type faultFlags []replay.Fault

func (f *faultFlags) String() string { return fmt.Sprint(len(*f)) }

func (f *faultFlags) Set(s string) error {
	fault, err := replay.ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, fault)
	return nil
}

type config struct {
	listen   string
	opts     replay.Options
	admin    bool
	fixtures string
}

// parse reads the flags; errors name the offending flag.
func parse(args []string, stderr io.Writer) (config, error) {
	var cfg config
	var faults faultFlags
	var symbols, rateLimits string
	fs := flag.NewFlagSet("exchange-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8700", "address to serve on")
	fs.StringVar(&cfg.fixtures, "fixtures", "", "fixtures directory (default: the repository's testdata/replay)")
	fs.StringVar(&symbols, "symbols", strings.Join(replay.DefaultSymbols, ","), "unified symbols served on every exchange")
	fs.IntVar(&cfg.opts.Scale, "scale", 0, "serve N symbols per exchange, generating names from --symbols (load tests)")
	fs.BoolVar(&cfg.opts.KeepTimes, "keep-times", false, "serve recorded times instead of moving them to now")
	fs.Float64Var(&cfg.opts.TradeRate, "trade-rate", 0, "derived trades per second per symbol (default: one every 2 s)")
	fs.Var(&faults, "fault", "inject a fault, EXCHANGE[:ROUTE]=EFFECT[,count=N][,p=P][,retry-after=S] (repeatable)")
	fs.StringVar(&rateLimits, "rate-limit", "all", "exchanges whose rate limits are enforced: all, none, or a list")
	fs.BoolVar(&cfg.opts.Strict, "strict", false, "ban (Binance: 418 for 2m) a client that sends again before a 429's Retry-After")
	fs.BoolVar(&cfg.admin, "admin", true, "serve the admin API under /_admin/")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: exchange-replay [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.opts.Scale < 0 {
		return cfg, fmt.Errorf("--scale: must not be negative, got %d", cfg.opts.Scale)
	}
	if !(cfg.opts.TradeRate >= 0 && cfg.opts.TradeRate <= replay.MaxTradeRate) {
		return cfg, fmt.Errorf("--trade-rate: want 0 (the default) up to %g trades per second, got %v", float64(replay.MaxTradeRate), cfg.opts.TradeRate)
	}
	if _, _, err := net.SplitHostPort(cfg.listen); err != nil {
		return cfg, fmt.Errorf("--listen %q: %w", cfg.listen, err)
	}
	for _, s := range strings.Split(symbols, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.opts.Symbols = append(cfg.opts.Symbols, s)
		}
	}
	if len(cfg.opts.Symbols) == 0 {
		return cfg, errors.New("--symbols: empty list")
	}
	enforce, err := parseRateLimits(rateLimits)
	if err != nil {
		return cfg, fmt.Errorf("--rate-limit: %w", err)
	}
	cfg.opts.RateLimits = enforce
	cfg.opts.Faults = faults
	if cfg.fixtures == "" {
		cfg.fixtures = findFixtures()
	}
	if st, err := os.Stat(cfg.fixtures); err != nil || !st.IsDir() {
		return cfg, fmt.Errorf("--fixtures %q: not a directory", cfg.fixtures)
	}
	cfg.opts.Fixtures = os.DirFS(cfg.fixtures)
	return cfg, nil
}

func parseRateLimits(v string) (map[string]bool, error) {
	out := map[string]bool{}
	switch v {
	case "all", "":
		return out, nil
	case "none":
		for _, ex := range replay.Exchanges {
			out[ex] = false
		}
		return out, nil
	}
	for _, ex := range replay.Exchanges {
		out[ex] = false
	}
	for _, ex := range strings.Split(v, ",") {
		ex = strings.TrimSpace(ex)
		if _, known := out[ex]; !known {
			return nil, fmt.Errorf("unknown exchange %q (want all, none or some of %s)", ex, strings.Join(replay.Exchanges, ","))
		}
		out[ex] = true
	}
	return out, nil
}

// findFixtures looks for testdata/replay in the working directory and its
// parents (the repository root), then beside the executable.
func findFixtures() string {
	const rel = "testdata/replay"
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, rel)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(exe), rel)
	}
	return rel
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "exchange-replay:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.opts.Logger = logger
	h, err := replay.New(cfg.opts)
	if err != nil {
		fmt.Fprintln(stderr, "exchange-replay:", err)
		return 2
	}
	var handler http.Handler = h
	if !cfg.admin {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/_admin/") {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		logger.Error("listening", "addr", cfg.listen, "err", err)
		return 1
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("serving recorded exchange responses (synthetic data, for tests and demos only)",
		"addr", ln.Addr().String(), "fixtures", cfg.fixtures, "exchanges", strings.Join(replay.Exchanges, ","),
		"keep_times", cfg.opts.KeepTimes, "faults", len(cfg.opts.Faults))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		logger.Error("serving", "err", err)
		return 1
	case <-ctx.Done():
	}
	// Release hung requests first, so that Shutdown can drain.
	h.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("shutting down", "err", err)
		return 1
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("serving", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
