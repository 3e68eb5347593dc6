package backfill_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

func feed(p backfill.Progress, pages int) {
	p.Start(backfill.Plan{Exchange: "binance", Timeframe: market.TF1m, Ranges: 1, Total: time.Duration(pages) * 25 * time.Minute})
	for range pages {
		p.Page(backfill.PageEvent{Symbol: btc, Kind: market.TypeOHLCV, Advanced: 25 * time.Minute,
			Returned: 25, Result: store.Result{Requested: 25, Inserted: 25}})
	}
	p.Finish(backfill.Summary{Ranges: 1, Finished: 1, Pages: pages, Requests: pages, Rows: 25 * pages, Inserted: 25 * pages})
}

// TestProgressOnTerminal: on a terminal the progress is a bar with a
// rate and a time estimate.
func TestProgressOnTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once the tty side is closed
		out <- string(b)
	}()

	var logs bytes.Buffer
	p := backfill.NewProgress(tty, slog.New(slog.NewTextHandler(&logs, nil)))
	require.IsType(t, &backfill.Bar{}, p)
	feed(p, 4)
	require.NoError(t, tty.Close())
	screen := <-out
	require.Contains(t, screen, "100%")
	require.Contains(t, screen, "(100/100, ")
	require.Contains(t, screen, "candles/s")
	require.Regexp(t, `\[\d+s:\d+s\]`, screen, "elapsed and estimated time left")
	require.Empty(t, logs.String(), "no log lines when drawing a bar")
}

// TestProgressElsewhere: anywhere else the progress is log lines, one at
// the start, at most one per interval, and one at the end.
func TestProgressElsewhere(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	for _, out := range []io.Writer{w, &bytes.Buffer{}} {
		require.IsType(t, &backfill.Log{}, backfill.NewProgress(out, nil))
	}

	var logs bytes.Buffer
	now := day("2024-03-01T00:00:00Z")
	clock := func() time.Time { return now }
	p := backfill.NewLog(slog.New(slog.NewTextHandler(&logs, nil)), 10*time.Second, clock)
	p.Start(backfill.Plan{Exchange: "binance", Timeframe: market.TF1m, Ranges: 2, Total: 100 * time.Minute})
	for _, step := range []time.Duration{5 * time.Second, 6 * time.Second, time.Second, time.Second} {
		now = now.Add(step)
		p.Page(backfill.PageEvent{Symbol: btc, Kind: market.TypeOHLCV, Cursor: now, Advanced: 25 * time.Minute,
			Result: store.Result{Requested: 25, Inserted: 25}})
	}
	p.Finish(backfill.Summary{Ranges: 2, Finished: 2, Pages: 4, Requests: 4, Rows: 100, Inserted: 100})

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], `msg="backfill starting"`)
	require.Contains(t, lines[0], "ranges=2")
	require.Contains(t, lines[1], `msg="backfill progress"`)
	require.Contains(t, lines[1], "done=50.0%")
	require.Contains(t, lines[1], "rows=50")
	require.Contains(t, lines[1], "eta=11s")
	require.Contains(t, lines[2], `msg="backfill finished"`)
	require.Contains(t, lines[2], "inserted=100")
}
