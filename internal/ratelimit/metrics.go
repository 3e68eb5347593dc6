package ratelimit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	var err error
	if m.queueDepth, err = register(reg, m.queueDepth); err != nil {
		return nil, err
	}
	if m.waitSeconds, err = register(reg, m.waitSeconds); err != nil {
		return nil, err
	}
	if m.frozenUntil, err = register(reg, m.frozenUntil); err != nil {
		return nil, err
	}
	if m.windowUsed, err = register(reg, m.windowUsed); err != nil {
		return nil, err
	}
	if m.windowLimit, err = register(reg, m.windowLimit); err != nil {
		return nil, err
	}
	if m.sharedErrors, err = register(reg, m.sharedErrors); err != nil {
		return nil, err
	}
	if m.peers, err = register(reg, m.peers); err != nil {
		return nil, err
	}
	if m.clockOffset, err = register(reg, m.clockOffset); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same description, so that one limiter per exchange can share a
// registerer.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, err
}
