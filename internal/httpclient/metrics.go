package httpclient

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/promreg"
)

// metrics are shared by the clients registered on one registerer; each
// fills its own exchange label.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_requests_total",
			Help: "HTTP attempts to exchanges by outcome (ok, retry, error) and error category (none on success).",
		}, []string{"exchange", "endpoint", "outcome", "category"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "exchange_request_duration_seconds",
			Help:    "Duration of HTTP attempts to exchanges, from sending to the body read, without rate-limit waits.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"exchange", "endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_request_retries_total",
			Help: "Retries of HTTP requests to exchanges.",
		}, []string{"exchange", "endpoint"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := errors.Join(
		promreg.Register(reg, &m.requests),
		promreg.Register(reg, &m.latency),
		promreg.Register(reg, &m.retries),
	); err != nil {
		return nil, err
	}
	return m, nil
}

// breakerGauge reports the breaker state of one exchange at scrape time, so
// that the lazy open -> half-open transition shows without a request.
func breakerGauge(reg prometheus.Registerer, exchange string, state func() State) error {
	if reg == nil {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "exchange_circuit_state",
		Help:        "Circuit breaker state per exchange: 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"exchange": exchange},
	}, func() float64 { return float64(state()) })
	err := reg.Register(g)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		// A newer client for the same exchange replaces the old one.
		reg.Unregister(are.ExistingCollector)
		err = reg.Register(g)
	}
	return err
}
