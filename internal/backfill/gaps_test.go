package backfill_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

const checksumSQL = `SELECT md5(string_agg(concat_ws('|', symbol, ts, open, high, low, close, volume, closed), ',' ORDER BY symbol, ts))
FROM market.candles`

func gap(s market.Symbol, from, to string, noData bool) backfill.Gap {
	f, t := day(from), day(to)
	return backfill.Gap{Exchange: "binance", Symbol: s, Timeframe: market.TF1m, From: f, To: t,
		Missing: int(t.Sub(f) / time.Minute), NoData: noData}
}

// TestGapsAndFill deletes ranges from backfilled candles (at both edges,
// in the middle, a single candle), finds exactly those, and fills them
// back to the same data, on both backends.
func TestGapsAndFill(t *testing.T) {
	for _, backend := range pgtest.Backends {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			from, to := day("2024-03-10T00:00:00Z"), day("2024-03-12T00:00:00Z")
			e := newEnvOn(t, backend.MigratedDB(t), day("2024-06-01T00:00:00Z"))
			ctx := context.Background()
			db := e.db
			b := e.backfiller(t, nil, nil)
			_, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc, eth, sol}, from, to, false))
			require.NoError(t, err)
			var before string
			require.NoError(t, db.QueryRow(ctx, checksumSQL).Scan(&before))

			q := backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, To: to}
			none, err := backfill.FindGaps(ctx, e.store, q)
			require.NoError(t, err)
			require.Empty(t, none)

			for _, d := range []struct {
				sym      market.Symbol
				from, to string
			}{
				{btc, "2024-03-10T00:00:00Z", "2024-03-10T00:10:00Z"}, // leading edge
				{btc, "2024-03-10T12:00:00Z", "2024-03-10T13:40:00Z"},
				{btc, "2024-03-11T05:17:00Z", "2024-03-11T05:18:00Z"}, // one candle
				{eth, "2024-03-11T23:53:00Z", "2024-03-12T00:00:00Z"}, // trailing edge
			} {
				_, err := db.Exec(ctx, `DELETE FROM market.candles WHERE symbol = $1 AND ts >= $2 AND ts < $3`, string(d.sym), day(d.from), day(d.to))
				require.NoError(t, err)
			}
			want := []backfill.Gap{
				gap(btc, "2024-03-10T00:00:00Z", "2024-03-10T00:10:00Z", false),
				gap(btc, "2024-03-10T12:00:00Z", "2024-03-10T13:40:00Z", false),
				gap(btc, "2024-03-11T05:17:00Z", "2024-03-11T05:18:00Z", false),
				gap(eth, "2024-03-11T23:53:00Z", "2024-03-12T00:00:00Z", false),
			}
			gaps, err := backfill.FindGaps(ctx, e.store, q)
			require.NoError(t, err)
			require.Equal(t, want, gaps)
			require.Equal(t, []int{10, 100, 1, 7}, []int{gaps[0].Missing, gaps[1].Missing, gaps[2].Missing, gaps[3].Missing})

			// By name: a symbol without a candle is one gap over the whole range;
			// without From, the range starts at each symbol's first candle.
			named, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m,
				Symbols: []market.Symbol{eth, "XRP/USDT"}, From: from, To: to})
			require.NoError(t, err)
			require.Equal(t, []backfill.Gap{want[3], gap("XRP/USDT", "2024-03-10T00:00:00Z", "2024-03-12T00:00:00Z", false)}, named)
			open, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, To: to})
			require.NoError(t, err)
			require.Equal(t, want[1:], open)
			other, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1h, From: from, To: to})
			require.NoError(t, err)
			require.Empty(t, other, "no 1h candles were ever stored for these symbols")

			e.req.take()
			sum, err := b.Fill(ctx, gaps, false)
			require.NoError(t, err)
			require.Equal(t, 4, sum.Requests)
			require.Equal(t, 118, sum.Inserted)
			require.Zero(t, sum.Duplicates)
			require.Len(t, e.req.take(), 4)
			after, err := backfill.FindGaps(ctx, e.store, q)
			require.NoError(t, err)
			require.Empty(t, after)
			var restored string
			require.NoError(t, db.QueryRow(ctx, checksumSQL).Scan(&restored))
			require.Equal(t, before, restored)

			// A gap of another timeframe is not this backfiller's to fill.
			_, err = b.Fill(ctx, []backfill.Gap{{Exchange: "binance", Symbol: btc, Timeframe: market.TF1h, From: from, To: to}}, false)
			require.ErrorIs(t, err, backfill.ErrMismatch)
		})
	}
}

// TestGapsNoData: gaps the exchange was asked about and had nothing for
// are flagged, and only filled when asked.
func TestGapsNoData(t *testing.T) {
	from, to := day("2024-05-01T00:00:00Z"), day("2024-05-01T10:00:00Z")
	e := newEnv(t, day("2024-05-01T12:00:00Z"))
	ctx := context.Background()
	db := e.db
	conn := holey{Connector: e.conn, holes: [][2]time.Time{
		{day("2024-05-01T01:40:00Z"), day("2024-05-01T05:00:00Z")},
		{day("2024-05-01T07:00:00Z"), day("2024-05-01T07:03:00Z")},
	}}
	b := e.backfiller(t, conn, func(o *backfill.Options) { o.PageSize = 100 })
	_, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc}, from, to, false))
	require.NoError(t, err)
	// And a stretch we lost ourselves, next to one of the exchange's holes.
	_, err = db.Exec(ctx, `DELETE FROM market.candles WHERE ts >= '2024-05-01T06:50:00Z' AND ts < '2024-05-01T07:00:00Z'`)
	require.NoError(t, err)

	// Without To: up to the last finished period (12:00), so the candles
	// after the backfilled range are missing too. The windows that came
	// back empty are the exchange's; the hole inside a page is not known
	// as such yet.
	gaps, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, Now: e.clock.Now()})
	require.NoError(t, err)
	require.Equal(t, []backfill.Gap{
		gap(btc, "2024-05-01T01:40:00Z", "2024-05-01T05:00:00Z", true),
		gap(btc, "2024-05-01T06:50:00Z", "2024-05-01T07:03:00Z", false),
		gap(btc, "2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z", false),
	}, gaps)

	var table bytes.Buffer
	require.NoError(t, backfill.RenderGaps(&table, gaps))
	require.Equal(t, `EXCHANGE  SYMBOL    TIMEFRAME  FROM                  TO                    MISSING  WHY
binance   BTC/USDT  1m         2024-05-01T01:40:00Z  2024-05-01T05:00:00Z  200      no data at exchange
binance   BTC/USDT  1m         2024-05-01T06:50:00Z  2024-05-01T07:03:00Z  13       missing
binance   BTC/USDT  1m         2024-05-01T10:00:00Z  2024-05-01T12:00:00Z  120      missing
`, table.String())

	e.req.take()
	sum, err := b.Fill(ctx, gaps, false)
	require.NoError(t, err)
	require.Equal(t, 10+120, sum.Inserted)
	require.Equal(t, 2+2, sum.Requests, "the exchange's empty windows are not asked again")

	// Now the fill's answers show the exchange had nothing at 07:00-07:03.
	left, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, To: to})
	require.NoError(t, err)
	require.Equal(t, []backfill.Gap{gaps[0], gap(btc, "2024-05-01T07:00:00Z", "2024-05-01T07:03:00Z", true)}, left)

	// Asked again on purpose, the exchange still has nothing there.
	sum, err = b.Fill(ctx, left, true)
	require.NoError(t, err)
	require.Zero(t, sum.Rows)
	require.Positive(t, sum.Requests)
	again, err := backfill.FindGaps(ctx, e.store, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, To: to})
	require.NoError(t, err)
	require.Equal(t, left, again)

	table.Reset()
	require.NoError(t, backfill.RenderGaps(&table, nil))
	require.Equal(t, "no gaps\n", table.String())
}

// TestGapsOpenAndInner: candles stored open whose period has ended are
// listed ("stored open") and fetched again closed; an inner query (the
// daemon's gap fill) leaves out what lies before the first candle and
// after the last one.
func TestGapsOpenAndInner(t *testing.T) {
	from, to := day("2024-05-01T00:00:00Z"), day("2024-05-01T02:00:00Z")
	e := newEnv(t, day("2024-05-01T12:00:00Z"))
	ctx := context.Background()
	db := e.db
	b := e.backfiller(t, nil, nil)
	_, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc}, from.Add(10*time.Minute), to.Add(-10*time.Minute), false))
	require.NoError(t, err)
	var before string
	require.NoError(t, db.QueryRow(ctx, checksumSQL).Scan(&before))
	// What the old candle job left: candles stored open while running,
	// with partial values, and a hole.
	_, err = db.Exec(ctx, `UPDATE market.candles SET closed = false, close = open
WHERE ts IN ('2024-05-01T00:30:00Z', '2024-05-01T00:31:00Z', '2024-05-01T01:00:00Z')`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `DELETE FROM market.candles WHERE ts >= '2024-05-01T00:40:00Z' AND ts < '2024-05-01T00:43:00Z'`)
	require.NoError(t, err)

	open := func(from, to string) backfill.Gap { g := gap(btc, from, to, false); g.Open = true; return g }
	q := backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, Symbols: []market.Symbol{btc}, From: from, To: to}
	gaps, err := backfill.FindGaps(ctx, e.store, q)
	require.NoError(t, err)
	inner := []backfill.Gap{
		open("2024-05-01T00:30:00Z", "2024-05-01T00:32:00Z"),
		gap(btc, "2024-05-01T00:40:00Z", "2024-05-01T00:43:00Z", false),
		open("2024-05-01T01:00:00Z", "2024-05-01T01:01:00Z"),
	}
	require.Equal(t, append(append([]backfill.Gap{gap(btc, "2024-05-01T00:00:00Z", "2024-05-01T00:10:00Z", false)}, inner...),
		gap(btc, "2024-05-01T01:50:00Z", "2024-05-01T02:00:00Z", false)), gaps)
	q.Inner = true
	gaps, err = backfill.FindGaps(ctx, e.store, q)
	require.NoError(t, err)
	require.Equal(t, inner, gaps)

	var table bytes.Buffer
	require.NoError(t, backfill.RenderGaps(&table, gaps[:1]))
	require.Contains(t, table.String(), "2024-05-01T00:32:00Z  2        stored open")

	sum, err := b.Fill(ctx, gaps, false)
	require.NoError(t, err)
	require.Equal(t, 3, sum.Inserted)
	require.Equal(t, 3, sum.Updated, "the open candles closed with their final values")
	var after string
	require.NoError(t, db.QueryRow(ctx, checksumSQL).Scan(&after))
	require.Equal(t, before, after)
	gaps, err = backfill.FindGaps(ctx, e.store, q)
	require.NoError(t, err)
	require.Empty(t, gaps)
}

// TestGapsTimescale runs the gap queries and the journal on TimescaleDB,
// where market.candles is a hypertable.
func TestGapsTimescale(t *testing.T) {
	ctx := context.Background()
	url := pgtest.TimescaleDB(t)
	m, err := schema.Open(ctx, url, schema.ModeOn, nil)
	require.NoError(t, err)
	require.NoError(t, m.Up())
	require.NoError(t, m.Close())
	db, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	st := store.New(db, nil)

	from, to := day("2024-03-01T00:00:00Z"), day("2024-03-20T00:00:00Z") // three chunks
	for _, s := range []market.Symbol{btc, eth} {
		_, err = db.Exec(ctx, `INSERT INTO market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed)
SELECT 'binance', $1, '1m', ts, 1, 2, 0.5, 1.5, 10, true
FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 minute', interval '1 minute') AS ts`, string(s), from, to)
		require.NoError(t, err)
	}
	_, err = db.Exec(ctx, `DELETE FROM market.candles WHERE (symbol = 'BTC/USDT' AND ts < '2024-03-01T00:05:00Z')
	OR (symbol = 'BTC/USDT' AND ts >= '2024-03-07T23:00:00Z' AND ts < '2024-03-08T01:00:00Z')
	OR (symbol = 'ETH/USDT' AND ts >= '2024-03-19T23:59:00Z')`)
	require.NoError(t, err)

	j := backfill.NewJournal(st)
	key := backfill.Key{Exchange: "binance", Symbol: btc, Kind: market.TypeOHLCV, Timeframe: market.TF1m, From: from, To: to}
	require.NoError(t, j.Commit(ctx, backfill.Checkpoint{Key: key, Cursor: day("2024-03-02T00:00:00Z"), Rows: 10, Requests: 1},
		[]backfill.Coverage{{AskedFrom: from, AskedTo: day("2024-03-01T00:03:00Z")}}))
	cursor, found, err := j.Resume(ctx, key)
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, cursor.Equal(day("2024-03-02T00:00:00Z")))

	gaps, err := backfill.FindGaps(ctx, st, backfill.GapQuery{Exchange: "binance", Timeframe: market.TF1m, From: from, To: to})
	require.NoError(t, err)
	require.Equal(t, []backfill.Gap{
		gap(btc, "2024-03-01T00:00:00Z", "2024-03-01T00:03:00Z", true),
		gap(btc, "2024-03-01T00:03:00Z", "2024-03-01T00:05:00Z", false),
		gap(btc, "2024-03-07T23:00:00Z", "2024-03-08T01:00:00Z", false),
		gap(eth, "2024-03-19T23:59:00Z", "2024-03-20T00:00:00Z", false),
	}, gaps)
}
