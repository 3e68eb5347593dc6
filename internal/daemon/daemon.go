// Package daemon is the composition root of `mdingest run`: it builds every
// part from the configuration, starts them in order and drains them in
// reverse (scheduler, then the writer's flush, then the HTTP server, then
// the pool), so rows fetched before a SIGTERM are stored.
//
// It needs its HTTP address and its spool at start, not the database: while
// PostgreSQL is away it fetches into the spool, /readyz says why it is not
// ready, and the spool is replayed when the database returns.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/mdingest/mdingest/internal/buildinfo"
	"github.com/mdingest/mdingest/internal/cache"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/ratelimit"
	"github.com/mdingest/mdingest/internal/scheduler"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/server"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

// DrainTimeout bounds the flush after a stop signal by default
// (store.drain_timeout).
const DrainTimeout = 20 * time.Second

// StopError is a failure of the stop (rows the drain could not write),
// already logged by the daemon with "mdingest stopped": the command line
// does not print it again.
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }

func (e *StopError) Unwrap() error { return e.Err }

// Logged reports that the error was logged where it happened.
func (e *StopError) Logged() bool { return true }

// Run runs the daemon until ctx ends, then drains. It fails at start when
// its HTTP address is taken, when its spool is another process's, or when
// the database answers without the schema this binary needs; a database
// that does not answer yet is waited for, spooling meanwhile.
//
// Each part tags its own log lines (component, exchange), so the parts
// get the logger untagged.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	root := prometheus.NewRegistry()
	root.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg := prometheus.WrapRegistererWithPrefix("mdingest_", root)
	if err := buildinfo.Register(reg); err != nil {
		return err
	}
	instance := Instance(cfg)

	// The address first: a daemon without /metrics, /healthz and /status
	// must not start at all.
	ln, err := server.Listen(ctx, cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()

	st, err := store.Open(ctx, cfg.DatabaseURL.Reveal(), store.Options{Logger: logger, Lazy: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := startupSchemaCheck(ctx, st, logger); err != nil {
		return err
	}

	var rdb *redis.Client
	if cfg.RedisURL != "" {
		rdb, err = cache.NewRedisClient(cfg.RedisURL.Reveal())
		if err != nil {
			return &config.Error{Key: "redis_url", Msg: err.Error()}
		}
		defer rdb.Close()
	}
	hot, fallback, err := newCache(cfg, rdb, reg, logger)
	if err != nil {
		return err
	}
	checker, err := quality.NewChecker(QualityConfig(cfg))
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	wopts := writer.Options{
		BatchSize: cfg.Store.BatchSize, FlushInterval: cfg.Store.FlushInterval.D(), QueueSize: cfg.Store.QueueSize,
		Logger: logger, Registerer: reg,
	}
	// The disk spool takes batches while the database is away (store.spool_max_bytes: 0 disables it).
	var sp *spool.Spool
	if cfg.Store.SpoolMaxBytes > 0 {
		dir := SpoolDir(cfg)
		sp, err = spool.Open(dir, spool.Options{MaxBytes: cfg.Store.SpoolMaxBytes, Logger: logger, Registerer: reg})
		if errors.Is(err, spool.ErrLocked) {
			key := "instance"
			if cfg.Store.SpoolDir != "" {
				key = "store.spool_dir"
			}
			return &config.Error{Key: key, Msg: fmt.Sprintf("the spool %s is in use by another mdingest on this host "+
				"(instance %q): give each daemon its own `instance` (or its own store.spool_dir)", dir, instance)}
		}
		if err != nil {
			return &config.Error{Key: "store.spool_dir", Msg: err.Error()}
		}
		defer sp.Close()
		wopts.Spool = sp
	}
	w, err := writer.New(st, wopts)
	if err != nil {
		return err
	}
	// Ticks are taken in Redis and in the database both, so that instances
	// run each job once per tick while either is away.
	tickLocks := store.NewTickLocks(st)
	defer tickLocks.Close()
	sched, err := scheduler.New(scheduler.Options{
		Intervals: scheduler.Intervals{
			Realtime: cfg.Jobs.Realtime.D(), High: cfg.Jobs.High.D(), Medium: cfg.Jobs.Medium.D(),
			Low: cfg.Jobs.Low.D(), Daily: cfg.Jobs.Daily.D(),
		},
		Jitter: cfg.Jobs.Jitter.D(), FailureThreshold: cfg.Jobs.FailureThreshold,
		Concurrency: concurrency(cfg), Redis: redisOrNil(rdb), Lockers: []scheduler.TickLocker{tickLocks},
		Hook:   jobRecorder{w: w, instance: instance},
		Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}
	metrics, err := ingest.NewMetrics(reg)
	if err != nil {
		return err
	}
	clients := map[string]*Client{}
	var captures []func(context.Context) error
	observer := requestRecorder{w: w}.observe
	for _, id := range cfg.Enabled() {
		c, err := NewClient(cfg, id, ClientDeps{Redis: scripterOrNil(rdb), Registerer: reg, Logger: logger, Observer: observer})
		if err != nil {
			return err
		}
		defer c.HTTP.Close()
		clients[id] = c
		p, err := addJobs(sched, cfg, id, c, checker, hot, w, st, metrics, logger)
		if err != nil {
			return err
		}
		metrics.Exchange(id)
		if err := reg.Register(degradedGauge(sched, id, c)); err != nil {
			return fmt.Errorf("registering the degraded gauge of %s: %w", id, err)
		}
		capture, err := newTradeCapture(cfg, id, c, p, st, checker, jobRecorder{w: w, instance: instance}, scripterOrNil(rdb), tickLocks, logger)
		if err != nil {
			return err
		}
		captures = append(captures, capture)
		if cfg.Jobs.GapFill {
			ex := cfg.Exchanges[id]
			g := gapFiller{st: st, client: c, checks: p, symbols: ex.Symbols, tfs: ex.Timeframes, window: cfg.Jobs.GapFillWindow.D(),
				logger: logger} // backfill tags its lines with component and exchange
			// After the candle job's first run: by then it has caught up
			// what a stop left, and what is older lies between candles.
			if err := sched.Add(scheduler.Job{Name: "gapfill/" + id, Exchange: id, Tier: scheduler.Daily,
				After: []string{"markets/" + id, "ohlcv/" + id}, Run: g.run}); err != nil {
				return err
			}
		}
	}

	// Without Redis, the processes on this egress share each budget 1/N.
	limiters := make([]*ratelimit.Limiter, 0, len(clients))
	for _, c := range clients {
		limiters = append(limiters, c.Limiter)
	}
	stopPeers, err := SharePeers(context.WithoutCancel(ctx), cfg, logger, limiters...)
	if err != nil {
		return err
	}
	defer stopPeers()

	srv, err := server.New(server.Options{
		Addr: cfg.Listen, Gatherer: root, Logger: logger,
		Ready: func(ctx context.Context) error {
			if err := migrationsCurrent(ctx, st); err != nil {
				return err
			}
			return anyMarkets(sched, cfg.Enabled())
		},
		Degraded: func() []string { return degraded(sched, clients) },
		Status: func() any {
			return status(sched, clients, hot, w, sp)
		},
	})
	if err != nil {
		return err
	}

	// The writer and server outlive the scheduler: they stop after the drain.
	tail, stopTail := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTail()
	var g errgroup.Group
	g.Go(func() error { return w.Run(tail) })
	g.Go(func() error { return srv.Serve(tail, ln) })
	if fallback != nil {
		g.Go(func() error { return fallback.Run(tail) })
	}
	logger.Info("mdingest running", "listen", cfg.Listen, "exchanges", cfg.Enabled(), "cache", hot.Backend(), "instance", instance)
	var trades errgroup.Group // trade capture runs beside the scheduler and stops with it
	for _, capture := range captures {
		trades.Go(func() error { return capture(ctx) })
	}
	// From the signal on, the last runs' rows are taken whatever the
	// spool's pressure, for the drain to keep.
	stopping := context.AfterFunc(ctx, w.Stopping)
	defer stopping()
	runErr := sched.Run(ctx) // until the signal; stops jobs first
	runErr = errors.Join(runErr, trades.Wait())

	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Store.DrainTimeout.D())
	drainErr := w.Drain(drainCtx)
	cancel()
	stopTail()
	waitErr := g.Wait()
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if errors.Is(waitErr, context.Canceled) {
		waitErr = nil
	}
	if err := errors.Join(runErr, drainErr, waitErr); err != nil {
		logger.Error("mdingest stopped", "err", err)
		return &StopError{Err: err}
	}
	logger.Info("mdingest stopped")
	return nil
}

// Instance is the configured instance name, or the host name.
func Instance(cfg config.Config) string {
	if cfg.Instance != "" {
		return cfg.Instance
	}
	host, _ := os.Hostname()
	return host
}

// SpoolDir is the daemon's spool directory: store.spool_dir, or one of
// its own per database and instance under the user's cache directory.
func SpoolDir(cfg config.Config) string {
	if cfg.Store.SpoolDir != "" {
		return cfg.Store.SpoolDir
	}
	return spool.DefaultDir(cfg.DatabaseURL.Reveal(), Instance(cfg))
}

// startupSchemaCheck refuses a database that answers without the schema
// this binary needs; one that does not answer is no reason not to start.
func startupSchemaCheck(ctx context.Context, st *store.Store, logger *slog.Logger) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logger.Warn("database unreachable at start: fetching into the spool until it answers; /readyz says not ready meanwhile",
			"err", err)
		return nil
	}
	return migrationsCurrent(ctx, st)
}

// migrationsCurrent is /readyz: the database answers and holds the schema
// this binary expects.
func migrationsCurrent(ctx context.Context, st *store.Store) error {
	latest, err := schema.Latest()
	if err != nil {
		return err
	}
	v, dirty, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading schema version (run `mdingest migrate up`): %w", err)
	}
	if dirty || v != latest {
		return fmt.Errorf("schema at version %d (dirty %v), this binary needs %d: run `mdingest migrate up`", v, dirty, latest)
	}
	return nil
}

func newCache(cfg config.Config, rdb *redis.Client, reg prometheus.Registerer, logger *slog.Logger) (*cache.Cache, *cache.Fallback, error) {
	cc := cache.Config{Ticker: cfg.Cache.Ticker.D(), OrderBook: cfg.Cache.OrderBook.D(), OHLCV: map[market.Timeframe]time.Duration{}}
	for _, tf := range market.Timeframes() {
		cc.OHLCV[tf] = cfg.Cache.OHLCV.D()
		if tf.Duration() >= time.Hour {
			cc.OHLCV[tf] = cfg.Cache.OHLCVDaily.D()
		}
	}
	mem := cache.NewMemory(cache.MemoryOptions{MaxEntries: cfg.Cache.MaxEntries})
	if rdb == nil {
		c, err := cache.New(mem, cc, cache.Options{Registerer: reg})
		return c, nil, err
	}
	fb, err := cache.NewFallback(cache.NewRedis(rdb), mem, cache.FallbackOptions{Logger: logger, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	c, err := cache.New(fb, cc, cache.Options{Registerer: reg})
	return c, fb, err
}

// QualityConfig is the checks' configuration from the file's quality
// section, shared by every road that writes market data.
func QualityConfig(cfg config.Config) quality.Config {
	q := quality.DefaultConfig()
	t, w := cfg.Quality.Thresholds, cfg.Quality.Weights
	q.Thresholds = quality.Scores{Completeness: t.Completeness, Accuracy: t.Accuracy, Consistency: t.Consistency, Timeliness: t.Timeliness, Validity: t.Validity, Uniqueness: t.Uniqueness}
	q.Weights = quality.Scores{Completeness: w.Completeness, Accuracy: w.Accuracy, Consistency: w.Consistency, Timeliness: w.Timeliness, Validity: w.Validity, Uniqueness: w.Uniqueness}
	q.FutureTolerance = cfg.Quality.FutureTolerance.D()
	q.MaxSpread = cfg.Quality.MaxSpread
	q.OutlierK = cfg.Quality.OutlierMADs
	return q
}

func concurrency(cfg config.Config) map[string]int {
	m := map[string]int{}
	for id, e := range cfg.Exchanges {
		m[id] = e.Concurrency
	}
	return m
}

// redisOrNil keeps a typed nil pointer out of interface values.
func redisOrNil(c *redis.Client) redis.UniversalClient {
	if c == nil {
		return nil
	}
	return c
}

func scripterOrNil(c *redis.Client) redis.Scripter {
	if c == nil {
		return nil
	}
	return c
}

// addJobs schedules one exchange's jobs; markets load before the rest.
// Trades are not a job: a trade capture (trades.go) polls each symbol on
// its own clock.
func addJobs(s *scheduler.Scheduler, cfg config.Config, id string, c *Client, checker *quality.Checker,
	hot *cache.Cache, w *writer.Writer, st *store.Store, m *ingest.Metrics, logger *slog.Logger) (*ingest.Pipeline, error) {
	p, err := newPipeline(cfg, id, c, checker, pipelineParts{
		cache: hot, notify: hot, sink: w, rejects: w, metrics: m, candles: st, logger: logger,
	})
	if err != nil {
		return nil, err
	}
	markets := "markets/" + id
	for _, j := range []scheduler.Job{
		{Name: markets, Exchange: id, Tier: scheduler.Low, Local: true, Run: p.RefreshMarkets, Retry: marketsRetry},
		{Name: "orderbooks/" + id, Exchange: id, Tier: scheduler.Realtime, After: []string{markets}, Run: p.OrderBooks},
		{Name: "tickers/" + id, Exchange: id, Tier: scheduler.High, After: []string{markets}, Run: p.Tickers},
		{Name: "ohlcv/" + id, Exchange: id, Tier: scheduler.Medium, After: []string{markets}, Run: p.Candles},
	} {
		if err := s.Add(j); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// marketsRetry retries a failed market list until the first one loads: every
// other job of the exchange waits for it, and the low tier's next tick may be
// 15 minutes away. Each attempt goes through the exchange's rate limiter and
// circuit like any request.
var marketsRetry = scheduler.Retry{Initial: time.Second, Max: 30 * time.Second}

// marketsLoaded reports whether exchange id's market list has loaded since
// start: until then none of its jobs run.
func marketsLoaded(s *scheduler.Scheduler, id string) bool { return s.Succeeded("markets/" + id) }

// exchangeDegraded says why exchange id cannot ingest fully: its market list
// has not loaded, or its circuit is not closed; "" when it can.
func exchangeDegraded(s *scheduler.Scheduler, id string, c *Client) string {
	switch {
	case !marketsLoaded(s, id):
		return "market list not loaded"
	case c.HTTP.Degraded():
		return "circuit " + c.HTTP.State().String()
	}
	return ""
}

// degraded names the exchanges that cannot ingest fully, for /readyz.
func degraded(s *scheduler.Scheduler, clients map[string]*Client) []string {
	var out []string
	for id, c := range clients {
		if why := exchangeDegraded(s, id, c); why != "" {
			out = append(out, id+" ("+why+")")
		}
	}
	slices.Sort(out)
	return out
}

var errNoMarkets = errors.New("no enabled exchange has loaded its market list yet")

// anyMarkets is /readyz's policy on market lists: ready once any enabled
// exchange has its market list, as the daemon then ingests; not ready while
// none has, as it then ingests nothing. One exchange down must not take a
// daemon that serves the others out of rotation: /readyz names it
// (Degraded), as /status and mdingest_exchange_degraded do.
func anyMarkets(s *scheduler.Scheduler, enabled []string) error {
	if len(enabled) == 0 {
		return nil
	}
	for _, id := range enabled {
		if marketsLoaded(s, id) {
			return nil
		}
	}
	return fmt.Errorf("%w (retrying: %s)", errNoMarkets, strings.Join(enabled, ", "))
}

// degradedGauge is mdingest_exchange_degraded{exchange}: 1 while the
// exchange cannot ingest fully (exchangeDegraded), read at each scrape.
func degradedGauge(s *scheduler.Scheduler, id string, c *Client) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "exchange_degraded", ConstLabels: prometheus.Labels{"exchange": id},
		Help: "1 while the exchange's market list has not loaded (none of its jobs run) or its circuit is not closed.",
	}, func() float64 {
		if exchangeDegraded(s, id, c) != "" {
			return 1
		}
		return 0
	})
}

// jobRecorder writes every run to ops.job_runs.
type jobRecorder struct {
	w        *writer.Writer
	instance string
}

func (r jobRecorder) JobRan(ctx context.Context, run scheduler.Run) {
	jr := ops.JobRun{Job: run.Job, Exchange: run.Exchange, Instance: r.instance, Started: run.Started,
		Finished: run.Finished, Outcome: string(run.Outcome), Rows: run.Rows}
	if run.Err != nil {
		jr.Error = run.Err.Error()
	}
	_ = r.w.Put(context.WithoutCancel(ctx), run.Started, tables.JobRuns.Rows([]ops.JobRun{jr}))
}

// requestRecorder writes every HTTP attempt to ops.request_metrics.
type requestRecorder struct{ w *writer.Writer }

func (r requestRecorder) observe(a httpclient.Attempt) {
	_ = r.w.Put(context.Background(), a.Time, tables.RequestMetrics.Rows([]ops.RequestMetric{{
		Time: a.Time, Exchange: a.Exchange, Endpoint: a.Endpoint, HTTPStatus: a.HTTPStatus, Latency: a.Latency,
		Attempt: a.Attempt, Outcome: string(a.Outcome), ErrorCategory: string(a.ErrorCategory),
	}}))
}

// status is /status: jobs, exchanges (degraded and why, the market list's
// pending retry), circuits, last success, cache backend, queues,
// and the disk spool (batches waiting for the database, the backpressure
// they cause, batches quarantined and records set aside as corrupt) so an
// outage shows without reading /metrics.
func status(s *scheduler.Scheduler, clients map[string]*Client, hot *cache.Cache, w *writer.Writer, sp *spool.Spool) any {
	circuits := map[string]any{}
	exchanges := map[string]any{}
	jobs := s.Status()
	for id, c := range clients {
		// State is an int with a String method: the name is what readers want.
		circuits[id] = map[string]any{"state": c.HTTP.State().String(), "degraded": c.HTTP.Degraded(), "frozen_until": c.Limiter.FrozenUntil(), "waiting": c.Limiter.Waiting()}
		why := exchangeDegraded(s, id, c)
		ex := map[string]any{"degraded": why != "", "markets_loaded": marketsLoaded(s, id)}
		if why != "" {
			ex["reason"] = why
		}
		if i := slices.IndexFunc(jobs, func(j scheduler.JobStatus) bool { return j.Name == "markets/"+id }); i >= 0 && !jobs[i].RetryAt.IsZero() {
			ex["markets_error"], ex["markets_retry_at"] = jobs[i].LastError, jobs[i].RetryAt
		}
		exchanges[id] = ex
	}
	return map[string]any{
		"jobs":         jobs,
		"exchanges":    exchanges,
		"circuits":     circuits,
		"last_success": s.LastSuccessByExchange(),
		"cache":        hot.Backend(),
		"queue_depth":  w.QueueDepth(),
		// Pressure is an int with a String method, as the circuit state.
		"spool": spoolStatus(w, sp),
	}
}

func spoolStatus(w *writer.Writer, sp *spool.Spool) map[string]any {
	out := map[string]any{"pending_batches": w.Spooled(), "pressure": w.Pressure().String()}
	if sp != nil {
		out["dir"] = sp.Dir()
		out["usage"] = sp.Usage()
		out["quarantined_batches"] = sp.Quarantined()
		out["corrupt_records"] = sp.Corrupt()
	}
	return out
}
