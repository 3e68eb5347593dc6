package scheduler

import (
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/stretchr/testify/require"
)

func TestEvery(t *testing.T) {
	for _, tc := range []struct{ failures, want int }{
		{0, 1}, {4, 1}, {5, 2}, {6, 4}, {7, 8}, {10, 64}, {50, 64},
	} {
		require.Equal(t, tc.want, every(tc.failures, 5, 6), "failures %d", tc.failures)
	}
}

func TestTickTimes(t *testing.T) {
	iv := 10 * time.Second
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now   time.Duration // after base
		first time.Duration
		ttl   time.Duration
	}{
		{0, 5 * time.Second, iv - time.Millisecond},          // 10s left + 2s margin, capped
		{5 * time.Second, 15 * time.Second, 7 * time.Second}, // exactly mid-tick: the next one
		{9 * time.Second, 15 * time.Second, 3 * time.Second},
	} {
		now := base.Add(tc.now)
		require.Equal(t, base.Add(tc.first), firstTick(now, iv), "now +%s", tc.now)
		require.Equal(t, tc.ttl, lockTTL(now, iv), "now +%s", tc.now)
		require.Less(t, lockTTL(now, iv), iv)
	}
}

// TestAddAlignedRetakesTheTime: a start computed before a stall can be in
// the past by the time gocron sees it, which it refuses ("start must not be
// in the past" stopped a daemon under load); the job is then added at the
// tick after, computed from the time again.
func TestAddAlignedRetakesTheTime(t *testing.T) {
	gs, err := gocron.NewScheduler()
	require.NoError(t, err)
	defer func() { require.NoError(t, gs.Shutdown()) }()
	iv := time.Second
	calls := 0
	now := func() time.Time {
		calls++
		if calls == 1 {
			return time.Now().Add(-2 * iv) // the time taken before a stall
		}
		return time.Now()
	}
	var starts []time.Time
	j, err := addAligned(now, iv, func(start time.Time) (gocron.Job, error) {
		starts = append(starts, start)
		return gs.NewJob(gocron.DurationJob(iv), gocron.NewTask(func() {}), gocron.WithStartAt(gocron.WithStartDateTime(start)))
	})
	require.NoError(t, err)
	require.NotNil(t, j)
	require.Len(t, starts, 2, "refused once, then added")
	require.Equal(t, iv/2, time.Duration(starts[1].UnixNano()%int64(iv)), "still on the tick grid")
}
