package cli

import (
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/store"
)

// requestMetricsInto collects request attempts for ops.request_metrics.
func requestMetricsInto(dst *[]store.RequestMetric) func(httpclient.Attempt) {
	return func(a httpclient.Attempt) {
		*dst = append(*dst, store.RequestMetric{Time: a.Time, Exchange: a.Exchange, Endpoint: a.Endpoint,
			HTTPStatus: a.HTTPStatus, Latency: a.Latency, Attempt: a.Attempt, Outcome: string(a.Outcome),
			ErrorCategory: string(a.ErrorCategory)})
	}
}
