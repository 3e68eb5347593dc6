package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// watchingSink stores through the store, but first waits (up to a bound)
// for the page after the one it stores to be asked for, and notes whether
// it was.
type watchingSink struct {
	*store.Store
	requests func() int64
	pages    int
	stored   int
	overlap  []bool
}

func (s *watchingSink) Candles(ctx context.Context, rows []market.Candle) (store.Result, error) {
	s.stored++
	if s.stored < s.pages { // the last page has no next one to wait for
		// Pages fetched one after another would leave the count at
		// s.stored until this page is stored.
		deadline := time.Now().Add(2 * time.Second)
		for s.requests() <= int64(s.stored) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		s.overlap = append(s.overlap, s.requests() > int64(s.stored))
	}
	return s.Store.Candles(ctx, rows)
}

// TestNextPageAskedWhileStoring: a range asks for its next page while the
// last one is being stored, rather than waiting for the database first;
// pages are still stored in order, each once, and the cursor ends at the
// range's end.
func TestNextPageAskedWhileStoring(t *testing.T) {
	from := day("2024-04-01T00:00:00Z")
	const n = 4
	to := from.Add(n * 1000 * time.Minute)
	e := newEnv(t, day("2024-06-01T12:00:00Z"))
	sink := &watchingSink{Store: e.store, requests: e.klineRequests, pages: n}
	rec := &pages{}
	b := e.backfiller(t, nil, func(o *backfill.Options) { o.Sink = sink; o.Progress = rec })

	sum, err := b.Run(context.Background(), backfill.Ranges([]market.Symbol{btc}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, 1, sum.Finished)
	require.Equal(t, n*1000, sum.Inserted)
	require.Equal(t, []bool{true, true, true}, sink.overlap, "the next page was asked for while each page but the last was stored")
	require.Len(t, rec.events, n)
	for i, ev := range rec.events {
		require.True(t, ev.From.Equal(from.Add(time.Duration(i)*1000*time.Minute)), "page %d stored in order", i)
	}
	require.Equal(t, n*1000, e.count(t, `SELECT count(DISTINCT ts) FROM market.candles WHERE symbol = $1`, string(btc)))
}
