package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/promreg"
)

// TestRegisterShares: a second instance's collector becomes the first's,
// so both count into one series; a clash of another kind is an error.
func TestRegisterShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "things_total", Help: "Things."}
	a, b := prometheus.NewCounter(opts), prometheus.NewCounter(opts)
	require.NoError(t, promreg.Register(reg, &a))
	require.NoError(t, promreg.Register(reg, &b))
	a.Inc()
	b.Inc()
	require.Equal(t, 2.0, testutil.ToFloat64(a))
	require.Same(t, a, b)

	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "things_total", Help: "Other things."})
	require.Error(t, promreg.Register(reg, &g), "same name, other help")
}
