package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/writer"
)

// pipelineParts are what an exchange's pipeline writes to.
type pipelineParts struct {
	cache   ingest.Cache // nil: nothing cached
	notify  ingest.Notifier
	sink    ingest.Sink
	rejects ingest.Sink
	metrics *ingest.Metrics
	candles ingest.CandleStore
	logger  *slog.Logger
	now     func() time.Time // nil: time.Now
}

// newPipeline builds exchange id's pipeline from the configuration: the
// road of the scheduled jobs, which the gap fill and the one-off commands
// take as well.
func newPipeline(cfg config.Config, id string, c *Client, checker *quality.Checker, parts pipelineParts) (*ingest.Pipeline, error) {
	ex := cfg.Exchanges[id]
	return ingest.New(ingest.Options{
		Fetcher: c, Checker: checker, Cache: parts.cache, Notify: parts.notify, Sink: parts.sink, Rejects: parts.rejects,
		Symbols: ex.Symbols, CriticalSymbols: ex.CriticalSymbols, Timeframes: ex.Timeframes, Depth: ex.Depth,
		Candles: parts.candles, CandleCatchup: cfg.Jobs.CandleCatchup.D(),
		MaxAge: checker.Config().MaxAge, Metrics: parts.metrics, Logger: parts.logger, Now: parts.now,
	})
}

// roadDrainTimeout bounds writing the request records a command leaves.
const roadDrainTimeout = 30 * time.Second

// Road is the daemon's road for the one-off commands that write market
// data (fetch --store, backfill, gaps --fill): exchange id's client, whose
// every request attempt goes to ops.request_metrics through a writer as in
// the daemon, and its pipeline, with the daemon's quality checks, rejected
// rows and quality reports. The pipeline writes synchronously (to the
// store, not through the writer's queue), so a backfill moves its cursor
// only past durable rows.
// Close releases it, writing the request records first.
type Road struct {
	Client   *Client
	Pipeline *ingest.Pipeline
	w        *writer.Writer
	done     chan error
	stop     context.CancelFunc
}

// RoadDeps are what a Road shares with the rest of the process.
type RoadDeps struct {
	// Redis shares the rate budget and freezes with running daemons; nil:
	// this process's own limiter only.
	Redis  redis.Scripter
	Logger *slog.Logger
}

// OpenRoad builds exchange id's road over st.
func OpenRoad(cfg config.Config, id string, st *store.Store, deps RoadDeps) (*Road, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	checker, err := quality.NewChecker(QualityConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	w, err := writer.New(st, writer.Options{
		BatchSize: cfg.Store.BatchSize, FlushInterval: cfg.Store.FlushInterval.D(), QueueSize: cfg.Store.QueueSize, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	c, err := NewClient(cfg, id, ClientDeps{Redis: deps.Redis, Logger: logger, Observer: requestRecorder{w: w}.observe})
	if err != nil {
		return nil, err
	}
	p, err := newPipeline(cfg, id, c, checker, pipelineParts{sink: writer.Synchronous{Store: st}, rejects: writer.Synchronous{Store: st},
		candles: st, logger: logger})
	if err != nil {
		c.HTTP.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Road{Client: c, Pipeline: p, w: w, done: make(chan error, 1), stop: stop}
	go func() { r.done <- w.Run(ctx) }()
	return r, nil
}

// Close stops the client and writes the request records still queued.
func (r *Road) Close() error {
	r.Client.HTTP.Close()
	ctx, cancel := context.WithTimeout(context.Background(), roadDrainTimeout)
	defer cancel()
	drainErr := r.w.Drain(ctx)
	r.stop()
	runErr := <-r.done
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if drainErr != nil {
		return fmt.Errorf("writing request metrics: %w", errors.Join(drainErr, runErr))
	}
	return runErr
}
