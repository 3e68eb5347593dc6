package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
)

// revised is an exchange that now answers other volumes for candles it
// served before (a correction on its side): what is stored closed stays.
type revised struct{ exchange.Connector }

func (r revised) OHLCV(ctx context.Context, s market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	cs, err := r.Connector.OHLCV(ctx, s, tf, since, limit)
	for i := range cs {
		cs[i].Volume = cs[i].Volume.Add(market.MustDecimal("1"))
	}
	return cs, err
}

// digestOf is a digest of one symbol's candles.
func (e *env) digestOf(t *testing.T, s market.Symbol) string {
	t.Helper()
	var sum string
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT md5(string_agg(concat_ws('|', ts, open, high, low, close, volume, closed), ','
	ORDER BY ts)) FROM market.candles WHERE symbol = $1`, string(s)).Scan(&sum))
	return sum
}

// TestIntoCompressedChunks backfills and fills gaps into chunks TimescaleDB
// has already compressed: new rows are stored, closed rows stay as they
// were even when the exchange answers otherwise, an open candle is still
// replaced by its final values, and no key is stored twice.
func TestIntoCompressedChunks(t *testing.T) {
	ctx := context.Background()
	from, to := day("2024-03-01T00:00:00Z"), day("2024-03-14T00:00:00Z") // BTC and ETH: two chunks
	last, end := to, day("2024-03-15T00:00:00Z")                         // SOL: a third, with an open candle
	e := newEnvOn(t, pgtest.TimescaleMigratedDB(t), day("2024-03-14T12:00:30Z"))
	db := e.db
	b := e.backfiller(t, nil, nil)
	minutes := int(to.Sub(from) / time.Minute)

	_, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc}, from, to, false))
	require.NoError(t, err)
	sum, err := b.Run(ctx, backfill.Ranges([]market.Symbol{sol}, last, end, false))
	require.NoError(t, err)
	require.Zero(t, sum.Finished, "stopped at the open candle")
	require.Equal(t, 721, e.count(t, `SELECT count(*) FROM market.candles WHERE symbol = 'SOL/USDT'`))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM market.candles WHERE NOT closed`))
	btcWhole := e.digestOf(t, btc)
	// Stretches lost before compression: the first minutes, two hours
	// across the chunk boundary, one candle.
	lost := [][2]string{
		{"2024-03-01T00:00:00Z", "2024-03-01T00:10:00Z"},
		{"2024-03-06T23:00:00Z", "2024-03-07T01:00:00Z"},
		{"2024-03-13T05:17:00Z", "2024-03-13T05:18:00Z"},
	}
	for _, l := range lost {
		_, err := db.Exec(ctx, `DELETE FROM market.candles WHERE symbol = 'BTC/USDT' AND ts >= $1 AND ts < $2`, day(l[0]), day(l[1]))
		require.NoError(t, err)
	}
	require.Equal(t, 3, pgtest.CompressChunks(t, db, "market.candles"))
	btcLost := e.digestOf(t, btc)

	// A backfill of another symbol over the compressed weeks.
	sum, err = b.Run(ctx, backfill.Ranges([]market.Symbol{eth}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, minutes, sum.Inserted)
	require.Equal(t, minutes, e.count(t, `SELECT count(*) FROM market.candles WHERE symbol = 'ETH/USDT'`))

	// A backfill over stored, closed, compressed candles, from an exchange
	// that now answers other values: nothing changes, and each is a
	// conflict, kept with both versions.
	sum, err = e.backfiller(t, revised{e.conn}, nil).Run(ctx, backfill.Ranges([]market.Symbol{btc},
		day("2024-03-08T00:00:00Z"), day("2024-03-13T00:00:00Z"), false))
	require.NoError(t, err)
	require.Equal(t, 5*1440, sum.Conflicts)
	require.Zero(t, sum.Inserted+sum.Updated+sum.Duplicates)
	require.Equal(t, 5*1440, e.count(t, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict'`))
	require.Equal(t, btcLost, e.digestOf(t, btc))

	// gaps --fill: exactly the lost stretches come back, the rest is as it was.
	q := backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, Symbols: []market.Symbol{btc}, From: from, To: to}
	gaps, err := backfill.FindGaps(ctx, e.store, q)
	require.NoError(t, err)
	require.Equal(t, []backfill.Gap{
		gap(btc, lost[0][0], lost[0][1], false), gap(btc, lost[1][0], lost[1][1], false), gap(btc, lost[2][0], lost[2][1], false),
	}, gaps)
	sum, err = b.Fill(ctx, gaps, false)
	require.NoError(t, err)
	require.Equal(t, 10+120+1, sum.Inserted)
	require.Zero(t, sum.Duplicates+sum.Updated)
	left, err := backfill.FindGaps(ctx, e.store, q)
	require.NoError(t, err)
	require.Empty(t, left)
	require.Equal(t, btcWhole, e.digestOf(t, btc))

	// The open candle, compressed, gets its final values once its period ends.
	pgtest.CompressChunks(t, db, "market.candles")
	e.clock.Set(day("2024-03-15T00:05:00Z"))
	sum, err = b.Run(ctx, backfill.Ranges([]market.Symbol{sol}, last, end, false))
	require.NoError(t, err)
	require.Equal(t, 1, sum.Finished)
	require.Equal(t, 1, sum.Updated, "the once-open candle is replaced by its final values")
	require.Equal(t, 1440, e.count(t, `SELECT count(*) FROM market.candles WHERE symbol = 'SOL/USDT'`))
	require.Zero(t, e.count(t, `SELECT count(*) FROM market.candles WHERE NOT closed`))

	require.Equal(t, 2*minutes+1440, e.count(t, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 2*minutes+1440, e.count(t, `SELECT count(DISTINCT (symbol, ts)) FROM market.candles`))
}
