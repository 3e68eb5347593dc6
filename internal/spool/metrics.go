package spool

import (
	"fmt"
	"path/filepath"

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
	corruptRecords  *prometheus.CounterVec
	quarantined     prometheus.GaugeFunc
	corruptKept     prometheus.GaugeFunc
	segmentsCreated prometheus.Counter
	segmentsDeleted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, dir string) (*metrics, error) {
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
			Name: "spool_corrupt_bytes_total", Help: "Bytes of torn or corrupt records skipped in the spool (kept in its corrupt/ directory).",
		}),
		corruptRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spool_corrupt_records_total",
			Help: "Spool records skipped and set aside in corrupt/, by reason: corrupt (failed its checksum), torn (an append cut short by a crash).",
		}, []string{"reason"}),
		quarantined: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spool_quarantined_batches", Help: "Batches the database refused, kept in quarantine/ for `mdingest quarantine replay`.",
		}, func() float64 { return float64(countFiles(filepath.Join(dir, QuarantineDir), segSuffix)) }),
		corruptKept: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spool_corrupt_files", Help: "Skipped spool records kept in corrupt/.",
		}, func() float64 { return float64(countFiles(filepath.Join(dir, CorruptDir), "")) }),
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
		m.appendErrors, m.truncated, m.corruptRecords, m.quarantined, m.corruptKept, m.segmentsCreated, m.segmentsDeleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering spool metrics: %w", err)
		}
	}
	return m, nil
}
