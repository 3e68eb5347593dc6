package writer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/tables"
)

type metrics struct {
	rows          *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	flushDuration *prometheus.HistogramVec
	flushErrors   *prometheus.CounterVec
	pending       *prometheus.GaugeVec
	dropped       *prometheus.CounterVec
	spilled       *prometheus.CounterVec
	replayed      *prometheus.CounterVec
	quarantined   *prometheus.CounterVec
	overBound     *prometheus.CounterVec
	blocked       prometheus.Counter
	paused        *prometheus.CounterVec
	depth         prometheus.GaugeFunc
	pressure      prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, depth, pressure func() float64) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_total", Help: "Rows written by table and result (inserted, updated, duplicate, conflict, rejected).",
		}, []string{"table", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "writer_batch_latency_seconds",
			Help:    "From the start of the request that fetched a batch to the batch being durable, by table.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30, 60, 120}, // 1 s: the latency target
		}, []string{"table"}),
		flushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "writer_flush_duration_seconds", Help: "Duration of one table flush (successful or not).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"table"}),
		flushErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_flush_errors_total", Help: "Failed flushes by table and kind (retryable, permanent).",
		}, []string{"table", "kind"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "writer_pending_rows", Help: "Rows buffered for a table, not yet written.",
		}, []string{"table"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_dropped_total", Help: "Rows that could not be written nor spooled.",
		}, []string{"table"}),
		spilled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_spooled_total", Help: "Rows written to the disk spool instead of the database.",
		}, []string{"table"}),
		replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_replayed_total", Help: "Spooled rows replayed into the database.",
		}, []string{"table"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_quarantined_total", Help: "Rows the database refused for good, kept in the spool's quarantine (mdingest quarantine list|replay).",
		}, []string{"table"}),
		overBound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_spooled_past_bound_total",
			Help: "Rows spooled past store.spool_max_bytes at a stop, because they fit nowhere else.",
		}, []string{"table"}),
		paused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_put_paused_total", Help: "Puts that waited for the spool to drain, by priority.",
		}, []string{"priority"}),
		pressure: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "writer_spool_pressure", Help: "Spool pressure: 0 none, 1 low and medium priority market data waits, 2 every Put waits.",
		}, pressure),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writer_put_blocked_total", Help: "Puts that found the queue full and had to wait (backpressure).",
		}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "writer_queue_depth", Help: "Batches waiting in the writer's queue.",
		}, depth),
	}
	// The first refused batch after a start must show as an increase, which
	// needs the series at 0 before it (the MdingestRowsQuarantined alert).
	for _, t := range tables.All {
		m.quarantined.WithLabelValues(t.Name())
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rows, m.latency, m.flushDuration, m.flushErrors, m.pending, m.dropped, m.spilled,
		m.replayed, m.quarantined, m.overBound, m.blocked, m.paused, m.depth, m.pressure} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering writer metrics: %w", err)
		}
	}
	return m, nil
}
