package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

// The COPY targets of the two load paths: the table itself (the straight
// COPY) and the session's staging table (the merge).
const (
	straight = `"market"."candles"`
	staged   = `"mdingest_stage_market_candles"`
)

// copied is one COPY the store sent: its target and the SQLSTATE it ended
// with ("" when it succeeded).
type copied struct {
	table string
	code  string
}

// copyLog is a pgx tracer recording every COPY, so a test sees which path
// a load took instead of assuming it.
type copyLog struct {
	mu     sync.Mutex
	copies []copied
}

type copyTarget struct{}

func (l *copyLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (l *copyLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *copyLog) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, copyTarget{}, d.TableName.Sanitize())
}

func (l *copyLog) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	c := copied{table: ctx.Value(copyTarget{}).(string)}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(d.Err, &pgErr):
		c.code = pgErr.Code
	case d.Err != nil:
		c.code = d.Err.Error()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.copies = append(l.copies, c)
}

// take returns the COPYs since the last take.
func (l *copyLog) take() []copied {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.copies
	l.copies = nil
	return out
}

// tracedStore opens a store on url whose COPYs go to the returned log.
func tracedStore(t *testing.T, url string) (*store.Store, *copyLog) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	log := &copyLog{}
	cfg.AfterConnect = store.RegisterDecimal
	cfg.ConnConfig.Tracer = log
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	s := store.New(pool, nil)
	t.Cleanup(s.Close)
	return s, log
}

// closedRun is n closed 1m candles of sym from minute first, in key order.
func closedRun(sym string, first, n int, closeVal string) []market.Candle {
	out := make([]market.Candle, 0, n)
	for i := range n {
		out = append(out, candle(sym, first+i, closeVal, true))
	}
	return out
}

var (
	straightOK = copied{straight, ""}
	metStored  = copied{straight, "23505"} // unique_violation: the batch met stored keys
	stagedOK   = copied{staged, ""}
)

// TestLoadPaths proves both load paths on both backends: a batch in key
// order that meets no stored key is copied straight into the table; one
// that meets stored keys fails that COPY as a whole and is merged through
// the staging table instead, and so are the following batches until one
// is clean; a batch out of key order is always merged. Every path leaves
// each key once. The subtests run in sequence: which path the next batch
// tries is the process's memory of the last one.
func TestLoadPaths(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			s, log := tracedStore(t, b.MigratedDB(t))
			ctx := context.Background()
			load := func(rows []market.Candle) store.Result {
				t.Helper()
				r, err := s.Candles(ctx, rows)
				require.NoError(t, err)
				return r
			}
			// A clean batch, whatever path it takes, leaves the loader
			// trying the straight path next.
			require.Equal(t, 100, load(closedRun("BTC/USDT", 0, 100, "1")).Inserted)
			log.take()

			require.Equal(t, store.Result{Requested: 100, Inserted: 100}, load(closedRun("BTC/USDT", 100, 100, "1")))
			require.Equal(t, []copied{straightOK}, log.take(), "new keys in order: straight COPY")

			require.Equal(t, store.Result{Requested: 100, Inserted: 50, Duplicates: 50}, load(closedRun("BTC/USDT", 150, 100, "1")))
			require.Equal(t, []copied{metStored, stagedOK}, log.take(), "stored keys met: the COPY is undone and the batch merged")

			require.Equal(t, store.Result{Requested: 50, Inserted: 50}, load(closedRun("BTC/USDT", 250, 50, "1")))
			require.Equal(t, []copied{stagedOK}, log.take(), "after a conflict the next batch goes straight to the merge")

			require.Equal(t, store.Result{Requested: 50, Inserted: 50}, load(closedRun("BTC/USDT", 300, 50, "1")))
			require.Equal(t, []copied{straightOK}, log.take(), "a clean merge brings the straight path back")

			reversed := closedRun("BTC/USDT", 350, 50, "1")
			slices.Reverse(reversed)
			require.Equal(t, store.Result{Requested: 50, Inserted: 50}, load(reversed))
			require.Equal(t, []copied{stagedOK}, log.take(), "out of key order: merged")

			require.Equal(t, 400, count(t, s, `SELECT count(*) FROM market.candles`))
			require.Equal(t, 400, count(t, s, `SELECT count(DISTINCT ts) FROM market.candles`))
		})
	}
}

// closedDigest is a digest of the closed BTC candles, but the one at except.
func closedDigest(t *testing.T, s *store.Store, except time.Time) string {
	t.Helper()
	var sum string
	require.NoError(t, s.Pool().QueryRow(context.Background(), `SELECT md5(string_agg(concat_ws('|', symbol, ts, open, high, low, close, volume, updated_at),
	',' ORDER BY ts)) FROM market.candles WHERE symbol = 'BTC/USDT' AND closed AND ts <> $1`, except).Scan(&sum))
	return sum
}

// TestCompressedChunks writes into chunks TimescaleDB has already
// compressed (a backfill of old data, a late fetch): an open candle is
// still updated, closed candles still never change, new rows are stored by
// both load paths, and stored rows met again, by one writer or by several
// at once, are not duplicated.
func TestCompressedChunks(t *testing.T) {
	s, log := tracedStore(t, pgtest.TimescaleMigratedDB(t))
	ctx := context.Background()
	load := func(rows []market.Candle) store.Result {
		t.Helper()
		r, err := s.Candles(ctx, rows)
		require.NoError(t, err)
		return r
	}
	// Three weeks of closed BTC candles every 30 minutes, and one open
	// candle in the middle week.
	var btc []market.Candle
	for i := range 3 * 7 * 48 {
		btc = append(btc, candleAt("BTC/USDT", t0.Add(time.Duration(i)*30*time.Minute), "100.5", true))
	}
	openAt := t0.Add(10*24*time.Hour + time.Minute)
	require.Equal(t, len(btc)+1, load(append(slices.Clone(btc), candleAt("BTC/USDT", openAt, "100.1", false))).Inserted)
	require.GreaterOrEqual(t, pgtest.CompressChunks(t, s.Pool(), "market.candles"), 3)
	closedBefore := closedDigest(t, s, openAt)
	closeAt := func(ts time.Time) (string, bool) {
		var c string
		var closed bool
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT close::text, closed FROM market.candles WHERE symbol = 'BTC/USDT' AND ts = $1`, ts).Scan(&c, &closed))
		return c, closed
	}

	// The open candle, compressed, is updated by a later fetch, then closed.
	require.Equal(t, store.Result{Requested: 1, Updated: 1}, load([]market.Candle{candleAt("BTC/USDT", openAt, "100.2", false)}))
	c, closed := closeAt(openAt)
	require.Equal(t, "100.2", c)
	require.False(t, closed)
	require.Equal(t, store.Result{Requested: 1, Updated: 1}, load([]market.Candle{candleAt("BTC/USDT", openAt, "100.3", true)}))
	// Closed now: a late partial copy changes nothing.
	require.Equal(t, store.Result{Requested: 2, Duplicates: 2}, load([]market.Candle{
		candleAt("BTC/USDT", openAt, "999", false), candleAt("BTC/USDT", openAt, "998", true)}))
	c, closed = closeAt(openAt)
	require.Equal(t, "100.3", c)
	require.True(t, closed)
	require.Equal(t, closedBefore, closedDigest(t, s, openAt), "the other closed candles are untouched")

	// New rows into the compressed chunks: a batch after a conflict is
	// merged, the next clean one copied straight.
	log.take()
	eth := make([]market.Candle, 0, len(btc))
	sol := make([]market.Candle, 0, len(btc))
	for _, x := range btc {
		x.Symbol = "ETH/USDT"
		eth = append(eth, x)
		x.Symbol = "SOL/USDT"
		sol = append(sol, x)
	}
	require.Equal(t, store.Result{Requested: len(eth), Inserted: len(eth)}, load(eth))
	require.Equal(t, []copied{stagedOK}, log.take())
	require.Equal(t, store.Result{Requested: len(sol), Inserted: len(sol)}, load(sol))
	require.Equal(t, []copied{straightOK}, log.take(), "a straight COPY into compressed chunks")

	// The same closed candles again with other values: the straight COPY
	// meets the compressed rows (TimescaleDB checks the key against them),
	// the merge keeps the stored values.
	changed := slices.Clone(btc)
	for i := range changed {
		changed[i].Close = d("555")
	}
	before := closedDigest(t, s, time.Time{})
	require.Equal(t, store.Result{Requested: len(changed), Duplicates: len(changed)}, load(changed))
	require.Equal(t, []copied{metStored, stagedOK}, log.take())
	require.Equal(t, before, closedDigest(t, s, time.Time{}), "closed candles in compressed chunks never change")
	require.GreaterOrEqual(t, count(t, s, `SELECT count(*) FROM timescaledb_information.chunks
WHERE hypertable_schema = 'market' AND hypertable_name = 'candles' AND is_compressed`), 3, "the rows compared were compressed")

	// Concurrent writers meeting the compressed rows at once, in both key
	// orders, each with the same new rows: no deadlock, nothing changed,
	// each new key stored once.
	pgtest.CompressChunks(t, s.Pool(), "market.candles")
	xrp := make([]market.Candle, 0, len(btc))
	for _, x := range btc {
		x.Symbol = "XRP/USDT"
		xrp = append(xrp, x)
	}
	batch := append(slices.Clone(changed), xrp...) // key order: BTC < XRP
	sum := loadConcurrently(t, s, batch, 6)
	require.Equal(t, store.Result{Requested: 6 * len(batch), Inserted: len(xrp), Duplicates: 6*len(batch) - len(xrp)}, sum)
	require.Equal(t, before, closedDigest(t, s, time.Time{}), "closed candles in compressed chunks never change")
	require.Equal(t, 4*len(btc)+1, count(t, s, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 4*len(btc)+1, count(t, s, `SELECT count(DISTINCT (symbol, ts)) FROM market.candles`))
}
