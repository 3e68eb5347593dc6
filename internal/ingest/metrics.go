package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/ops"
)

// Metrics are the pipeline's counters, shared by every exchange's
// Pipeline and registered once.
type Metrics struct {
	fetched      *prometheus.CounterVec
	accepted     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	fetchErrors  *prometheus.CounterVec
	decodeErrors *prometheus.CounterVec
	tradeHoles   *prometheus.CounterVec
	tradesMissed *prometheus.CounterVec
}

func newMetrics() *Metrics {
	return &Metrics{
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rows_fetched_total", Help: "Rows fetched from exchanges, by exchange and data type.",
		}, []string{"exchange", "type"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rows_accepted_total", Help: "Rows that passed validation and were handed to the store.",
		}, []string{"exchange", "type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rows_rejected_total", Help: "Rows kept in ops.rejected_rows, by source (validation, decode).",
		}, []string{"exchange", "type", "source"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fetch_errors_total", Help: "Fetches that failed, by exchange and data type.",
		}, []string{"exchange", "type"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "decode_errors_total", Help: "Exchange responses the connector could not decode.",
		}, []string{"exchange", "type"}),
		tradeHoles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trade_holes_total", Help: "Spans of trades that could not be captured (ops.trade_holes), by reason.",
		}, []string{"exchange", "reason"}),
		tradesMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trades_missed_total", Help: "Trades estimated lost in trade holes.",
		}, []string{"exchange"}),
	}
}

// NewMetrics registers the pipeline's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.fetched, m.accepted, m.rejected, m.fetchErrors, m.decodeErrors, m.tradeHoles, m.tradesMissed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering ingest metrics: %w", err)
		}
	}
	return m, nil
}

// Exchange creates exchange id's trade-hole series at 0, so that the first
// hole after a start shows as an increase.
func (m *Metrics) Exchange(id string) {
	for _, reason := range []string{ops.HoleNotServed, ops.HoleNoOverlap, ops.HoleOutage} {
		m.tradeHoles.WithLabelValues(id, reason)
	}
	m.tradesMissed.WithLabelValues(id)
}
