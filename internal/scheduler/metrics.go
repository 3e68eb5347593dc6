package scheduler

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	runs            *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	lastSuccess     *prometheus.GaugeVec
	lockContended   *prometheus.CounterVec
	lockErrors      *prometheus.CounterVec
	lockUnavailable prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_job_runs_total", Help: "Job ticks by job and outcome (ok, error, skipped).",
		}, []string{"job", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scheduler_job_duration_seconds", Help: "Duration of job runs that were not skipped.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scheduler_job_last_success_timestamp_seconds", Help: "Unix time of each job's last success.",
		}, []string{"job"}),
		lockContended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_lock_contended_total", Help: "Ticks another instance ran, by job.",
		}, []string{"job"}),
		lockErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_lock_errors_total", Help: "Tick lock attempts that failed, by locker (redis, postgres).",
		}, []string{"locker"}),
		lockUnavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_lock_unavailable_total", Help: "Ticks run here without any tick lock, because no locker answered.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.runs, m.duration, m.lastSuccess, m.lockContended, m.lockErrors, m.lockUnavailable} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering scheduler metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(r Run) {
	m.runs.WithLabelValues(r.Job, string(r.Outcome)).Inc()
	if r.Outcome == Skipped {
		return
	}
	m.duration.WithLabelValues(r.Job).Observe(r.Finished.Sub(r.Started).Seconds())
	if r.Outcome == OK {
		m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.Finished.UnixNano()) / 1e9)
	}
}
