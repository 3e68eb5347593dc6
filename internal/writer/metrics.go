package writer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rows          *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	flushDuration *prometheus.HistogramVec
	flushErrors   *prometheus.CounterVec
	pending       *prometheus.GaugeVec
	dropped       *prometheus.CounterVec
	spilled       *prometheus.CounterVec
	blocked       prometheus.Counter
	depth         prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, depth func() float64) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writer_rows_total", Help: "Rows written by table and result (inserted, updated, duplicate, rejected).",
		}, []string{"table", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "writer_batch_latency_seconds",
			Help:    "From the start of the request that fetched a batch to the batch being durable, by table.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
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
			Name: "writer_rows_spooled_total", Help: "Rows handed to the spool unwritten.",
		}, []string{"table"}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writer_put_blocked_total", Help: "Puts that found the queue full and had to wait (backpressure).",
		}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "writer_queue_depth", Help: "Batches waiting in the writer's queue.",
		}, depth),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rows, m.latency, m.flushDuration, m.flushErrors, m.pending, m.dropped, m.spilled, m.blocked, m.depth} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering writer metrics: %w", err)
		}
	}
	return m, nil
}
