package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Parts hold at most partRows rows of one chunk range each, and the first
// part written into a range is one row alone; without ranges, parts are
// cut by size only.
func TestNextPart(t *testing.T) {
	day := int64(24 * time.Hour / time.Microsecond)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) // a Friday: a week's range began on Thursday
	times := make([]time.Time, 3*7*1440)                 // three weeks of minutes
	for i := range times {
		times[i] = start.Add(time.Duration(i) * time.Minute)
	}
	at := func(t time.Time) time.Time { return t }
	c := &chunkRanges{interval: 7 * day, written: map[int64]bool{}}
	require.True(t, c.first(c.of(start.Add(7*24*time.Hour)))) // the second week's range written before

	var parts [][2]int
	for i := 0; i < len(times); {
		end := nextPart(times, i, at, c)
		parts = append(parts, [2]int{i, end})
		i = end
	}
	opened := map[int64]int{}
	for _, p := range parts {
		first, last := times[p[0]], times[p[1]-1]
		require.LessOrEqual(t, p[1]-p[0], partRows)
		require.Equal(t, c.of(first), c.of(last), "part %v crosses a range", p)
		if _, seen := opened[c.of(first)]; !seen {
			opened[c.of(first)] = p[1] - p[0]
		}
	}
	week := func(d int) int64 { return c.of(start.Add(time.Duration(d) * 24 * time.Hour)) }
	require.Equal(t, map[int64]int{week(0): 1, week(7): min(partRows, 7*1440), week(14): 1, week(21): 1}, opened,
		"new ranges open with one row; the range written before does not")
	epoch := time.Unix(0, 0)
	require.Equal(t, []int64{-1, 0, 0, 1}, []int64{c.of(epoch.Add(-time.Microsecond)), c.of(epoch),
		c.of(epoch.Add(7*24*time.Hour - time.Microsecond)), c.of(epoch.Add(7 * 24 * time.Hour))}, "ranges align on the Unix epoch")

	n := 0
	for i := 0; i < len(times); i = nextPart(times, i, nil, nil) {
		n++
	}
	require.Equal(t, (len(times)+partRows-1)/partRows, n)
}
