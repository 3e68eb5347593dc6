package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Parts hold at most partRows rows and never reach into a range this
// store has not written into; the first part written into a range is one
// row alone. Without ranges, parts are cut by size only.
func TestNextPart(t *testing.T) {
	day := int64(24 * time.Hour / time.Microsecond)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) // a Friday: a week's range began on Thursday
	times := make([]time.Time, 3*7*1440)                 // three weeks of minutes
	for i := range times {
		times[i] = start.Add(time.Duration(i) * time.Minute)
	}
	at := func(t time.Time) time.Time { return t }
	c := &chunkRanges{interval: 7 * day, opened: map[int64]bool{}}
	week := func(d int) int64 { return c.of(start.Add(time.Duration(d) * 24 * time.Hour)) }
	require.True(t, c.first(week(7))) // the second week's range written before

	var parts [][2]int
	opened := map[int64]int{}
	for i := 0; i < len(times); {
		before := map[int64]bool{}
		for r := week(0); r <= week(21); r++ {
			before[r] = c.written(r)
		}
		end := nextPart(times, i, at, c)
		first := c.of(times[i])
		if !before[first] {
			opened[first] = end - i
		}
		for _, ts := range times[i+1 : end] {
			require.True(t, before[c.of(ts)], "part [%d, %d) reaches into a range not written before", i, end)
		}
		require.LessOrEqual(t, end-i, partRows)
		parts = append(parts, [2]int{i, end})
		i = end
	}
	require.Equal(t, map[int64]int{week(0): 1, week(14): 1, week(21): 1}, opened,
		"new ranges open with one row; the range written before does not")
	require.Contains(t, parts, [2]int{1, 1 + partRows}, "a part goes on into a range written before")
	epoch := time.Unix(0, 0)
	require.Equal(t, []int64{-1, 0, 0, 1}, []int64{c.of(epoch.Add(-time.Microsecond)), c.of(epoch),
		c.of(epoch.Add(7*24*time.Hour - time.Microsecond)), c.of(epoch.Add(7 * 24 * time.Hour))}, "ranges align on the Unix epoch")

	n := 0
	for i := 0; i < len(times); i = nextPart(times, i, nil, nil) {
		n++
	}
	require.Equal(t, (len(times)+partRows-1)/partRows, n)
}
