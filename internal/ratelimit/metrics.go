package ratelimit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/promreg"
)

// metrics are shared by every Limiter registered on the same registerer;
// each limiter fills its own exchange label.
type metrics struct {
	queueDepth   *prometheus.GaugeVec
	waitSeconds  *prometheus.HistogramVec
	frozenUntil  *prometheus.GaugeVec
	windowUsed   *prometheus.GaugeVec
	windowLimit  *prometheus.GaugeVec
	sharedErrors *prometheus.CounterVec
	peers        *prometheus.GaugeVec
	clockOffset  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_queue_depth",
			Help: "Requests waiting for rate-limit budget, by exchange and priority.",
		}, []string{"exchange", "priority"}),
		waitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ratelimit_wait_seconds",
			Help:    "Time spent waiting for rate-limit budget, by exchange and priority.",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"exchange", "priority"}),
		frozenUntil: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_frozen_until_timestamp_seconds",
			Help: "Unix time until which the exchange is frozen (ban or Retry-After); 0 if never.",
		}, []string{"exchange"}),
		windowUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_window_used",
			Help: "Units counted in the exchange's current window (requests in flight included), or taken from its bucket, as known locally.",
		}, []string{"exchange"}),
		windowLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_window_limit",
			Help: "Units the exchange allows per window (its published limit, or the configured one), beside ratelimit_window_used.",
		}, []string{"exchange"}),
		sharedErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_shared_errors_total",
			Help: "Errors talking to the shared (Redis) rate-limit state; the limiter fell back to local state.",
		}, []string{"exchange"}),
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_peers",
			Help: "Processes sending from this egress, this one included; without shared state each keeps to 1/peers of the budget.",
		}, []string{"exchange"}),
		clockOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ratelimit_server_clock_offset_seconds",
			Help: "The exchange's clock minus ours, estimated from Date headers; windows follow the exchange's clock.",
		}, []string{"exchange"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := errors.Join(
		promreg.Register(reg, &m.queueDepth),
		promreg.Register(reg, &m.waitSeconds),
		promreg.Register(reg, &m.frozenUntil),
		promreg.Register(reg, &m.windowUsed),
		promreg.Register(reg, &m.windowLimit),
		promreg.Register(reg, &m.sharedErrors),
		promreg.Register(reg, &m.peers),
		promreg.Register(reg, &m.clockOffset),
	); err != nil {
		return nil, err
	}
	return m, nil
}
