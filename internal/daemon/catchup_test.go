package daemon_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// TestRestartCatchesUp: the database holds what a daemon stopped two hours
// ago left (an hour of candles, the minute running at the stop open).
// Started again, the daemon catches up by itself: every minute since is
// stored, and every ended one closed, on exchanges that page (Binance) and
// that answer whole windows (Kraken, KuCoin).
func TestRestartCatchesUp(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	exchanges := []string{"binance", "kraken", "kucoin"}
	cfg := daemontest.Config(t, rp.URL, dbURL, exchanges...)
	ctx := context.Background()

	stopped := time.Now().UTC().Add(-2 * time.Hour)
	seedFrom := stopped.Truncate(time.Minute).Add(-time.Hour)
	st := store.New(pool, nil)
	for _, id := range exchanges {
		c, err := daemon.NewClient(cfg, id, daemon.ClientDeps{})
		require.NoError(t, err)
		// Asked from a minute early: Kraken's since leaves it out.
		seed, err := c.OHLCV(ctx, "BTC/USDT", market.TF1m, seedFrom.Add(-time.Minute), 62)
		c.HTTP.Close()
		require.NoError(t, err)
		seed = slices.DeleteFunc(seed, func(c market.Candle) bool { return c.Time.Before(seedFrom) || c.Time.After(stopped) })
		require.Len(t, seed, 61, id)
		for i := range seed {
			seed[i].Closed = seed[i].ClosedAt(stopped)
		}
		_, err = st.Candles(ctx, seed)
		require.NoError(t, err)
	}
	require.Equal(t, int64(len(exchanges)), count(t, pool, `SELECT count(*) FROM market.candles WHERE NOT closed`))

	startDaemon(t, cfg)
	whole := func(id string) bool {
		now := time.Now().UTC().Truncate(time.Minute)
		minutes := int64(now.Sub(seedFrom) / time.Minute)
		return count(t, pool, `SELECT count(*) FROM market.candles WHERE exchange = $1 AND symbol = 'BTC/USDT'
AND timeframe = '1m' AND ts >= $2 AND ts < $3 AND closed`, id, seedFrom, now) == minutes
	}
	require.Eventually(t, func() bool {
		for _, id := range exchanges {
			if !whole(id) {
				return false
			}
		}
		return true
	}, waitFor, pollGap, "every minute since the stop stored closed")
	require.Zero(t, count(t, pool, `SELECT count(*) FROM market.candles WHERE NOT closed AND ts < $1`, time.Now().UTC().Add(-time.Minute).Truncate(time.Minute)),
		"no ended candle left open")
}
