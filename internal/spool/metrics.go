package spool

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	bytes           prometheus.Gauge
	segments        prometheus.Gauge
	pending         prometheus.Gauge
	highWater       prometheus.Gauge
	highWaterValue  float64 // under Spool.mu
	appended        *prometheus.CounterVec
	replayed        *prometheus.CounterVec
	appendErrors    *prometheus.CounterVec
	truncated       prometheus.Counter
	segmentsCreated prometheus.Counter
	segmentsDeleted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_bytes", Help: "Bytes of the spool's segment files on disk.",
		}),
		segments: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_segments", Help: "Segment files in the spool.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_pending_records", Help: "Batches in the spool waiting for replay.",
		}),
		highWater: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_bytes_high_water", Help: "Largest size the spool reached since the process started.",
		}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spool_records_spooled_total", Help: "Batches written to the spool, by table.",
		}, []string{"table"}),
		replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spool_records_replayed_total", Help: "Spooled batches replayed into the database, by table.",
		}, []string{"table"}),
		appendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spool_append_errors_total", Help: "Batches the spool could not take, by reason (full, io).",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_corrupt_bytes_total", Help: "Bytes of torn or corrupt records cut from the spool.",
		}),
		segmentsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_segments_created_total", Help: "Segment files started.",
		}),
		segmentsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_segments_deleted_total", Help: "Segment files deleted after replay.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.bytes, m.segments, m.pending, m.highWater, m.appended, m.replayed,
		m.appendErrors, m.truncated, m.segmentsCreated, m.segmentsDeleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering spool metrics: %w", err)
		}
	}
	return m, nil
}
