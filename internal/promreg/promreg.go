// Package promreg registers Prometheus collectors that several instances
// share: one rate limiter or HTTP client per exchange, all on one
// registerer, each series created once.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers *c with reg; when a collector of the same description
// is already registered, *c becomes that one, so that every instance
// updates the same series.
func Register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	if err == nil {
		return nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}
