package priority

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPriority(t *testing.T) {
	ctx := context.Background()
	require.Equal(t, Medium, From(ctx))
	require.Equal(t, High, From(With(ctx, High)))
	require.Equal(t, Critical, From(With(ctx, Priority(42))))
	require.Equal(t, Low, From(With(ctx, Priority(-3))))
	for p, want := range map[Priority]string{Low: "low", Medium: "medium", High: "high", Critical: "critical", 9: "unknown"} {
		require.Equal(t, want, p.String())
	}
	require.Greater(t, Critical, High)
	require.Greater(t, High, Medium)
	require.Greater(t, Medium, Low)
}
