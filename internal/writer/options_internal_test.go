package writer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
)

// A writer built without options behaves as the default configuration
// says (it flushed every second while the configuration said 250 ms).
func TestDefaultsAreTheConfiguration(t *testing.T) {
	w, err := New(struct{ Store }{}, Options{})
	require.NoError(t, err)
	def := config.Default().Store
	require.Equal(t, def.FlushInterval.D(), w.opts.FlushInterval)
	require.Equal(t, def.BatchSize, w.opts.BatchSize)
	require.Equal(t, def.QueueSize, w.opts.QueueSize)
}
