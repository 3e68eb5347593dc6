package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/schema"
	"github.com/mdingest/mdingest/internal/store"
)

// The tables and staging tables the tests watch. The stage is the merge
// path: rows are copied into it and merged with INSERT ... ON CONFLICT.
const (
	candlesTable = `"market"."candles"`
	candlesStage = `"mdingest_stage_market_candles"`
	tickersTable = `"market"."tickers"`
	tickersStage = `"mdingest_stage_market_tickers"`
)

// step is one write the store sent through pgx: a COPY (with the rows it
// copied) or a merging INSERT, and the SQLSTATE it ended with ("" when it
// succeeded). The probed tables' straight COPY goes through pgconn, below
// pgx's tracer, so it is not a step: a load of new candles shows none.
type step struct {
	op    string // "COPY" or "INSERT"
	table string
	rows  int64 // rows a COPY copied
	code  string
}

func copyOK(table string, rows int64) step { return step{op: "COPY", table: table, rows: rows} }

func merged(table string) step { return step{op: "INSERT", table: table} }

// writeLog is a pgx tracer recording every COPY and INSERT, so a test sees
// which path a load took instead of assuming it.
type writeLog struct {
	mu    sync.Mutex
	steps []step
}

type stepKey struct{}

func (l *writeLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	_, into, ok := strings.Cut(d.SQL, "INSERT INTO ")
	if !ok {
		return ctx
	}
	table, _, _ := strings.Cut(into, " ")
	return context.WithValue(ctx, stepKey{}, step{op: "INSERT", table: table})
}

func (l *writeLog) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(stepKey{}).(step); ok {
		l.add(s, d.Err, 0)
	}
}

func (l *writeLog) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, stepKey{}, step{op: "COPY", table: d.TableName.Sanitize()})
}

func (l *writeLog) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	l.add(ctx.Value(stepKey{}).(step), d.Err, d.CommandTag.RowsAffected())
}

func (l *writeLog) add(s step, err error, rows int64) {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		s.code = pgErr.Code
	case err != nil:
		s.code = err.Error()
	default:
		s.rows = rows
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, s)
}

// take returns the steps on tables whose name contains table since the
// last take, and forgets all (the ops tables' writes, e.g. of conflicts,
// take paths of their own).
func (l *writeLog) take(table string) []step {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []step
	for _, s := range l.steps {
		if strings.Contains(s.table, table) {
			out = append(out, s)
		}
	}
	l.steps = nil
	return out
}

// tracedStore opens a store on url whose writes go to the returned log.
func tracedStore(t *testing.T, url string) (*store.Store, *writeLog) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	log := &writeLog{}
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

// tickerRun is n BTC tickers a minute apart from minute first, in key order.
func tickerRun(first, n int) []market.Ticker {
	out := make([]market.Ticker, 0, n)
	for i := range n {
		out = append(out, market.Ticker{Exchange: "kraken", Symbol: "BTC/USD", Time: t0.Add(time.Duration(first+i) * time.Minute),
			Bid: d("1.5"), Ask: d("1.6"), Last: d("1.55")})
	}
	return out
}

// versions maps each stored BTC candle's minute from t0 to its row
// version (xmin): a write of the row, even of the same values, changes it.
func versions(t *testing.T, s *store.Store) map[int]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT ts, xmin::text FROM market.candles WHERE symbol = 'BTC/USDT'`)
	require.NoError(t, err)
	out := map[int]string{}
	var ts time.Time
	var xmin string
	_, err = pgx.ForEachRow(rows, []any{&ts, &xmin}, func() error {
		out[int(ts.Sub(t0)/time.Minute)] = xmin
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestLoadPaths proves on both backends which path each load takes and
// what it leaves.
//
// Unprobed tables (tickers here; order books, symbols, the ops tables): a
// batch that meets no stored key is copied straight into the table, in key
// order even when it came out of order; one that meets stored keys fails
// that COPY as a whole and is merged through the staging table instead,
// and so are the following batches until one is clean.
//
// Probed tables (candles here; trades): what is stored is read first. New
// keys are copied straight in with no merge, whatever else the batch
// holds; rows stored with the same values cost no write; an open candle
// that changed, and only it, is merged and updated; a closed candle with
// other values is a conflict, kept out and recorded.
//
// Every path leaves each key once.
func TestLoadPaths(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.MigratedDB(t)
			pgtest.HoldPolicies(t, url)
			s, log := tracedStore(t, url)
			ctx := context.Background()

			// In sequence: which path the next ticker batch tries is the
			// process's memory of the last one.
			t.Run("unprobed", func(t *testing.T) {
				load := func(rows []market.Ticker) store.Result {
					t.Helper()
					r, err := s.Tickers(ctx, rows)
					require.NoError(t, err)
					return r
				}
				// A clean batch, whatever path it takes, leaves the loader
				// trying the straight path next.
				require.Equal(t, 100, load(tickerRun(0, 100)).Inserted)
				log.take("tickers")

				require.Equal(t, store.Result{Requested: 100, Inserted: 100}, load(tickerRun(100, 100)))
				require.Equal(t, []step{copyOK(tickersTable, 100)}, log.take("tickers"), "new keys in order: straight COPY")

				require.Equal(t, store.Result{Requested: 100, Inserted: 50, Duplicates: 50}, load(tickerRun(150, 100)))
				require.Equal(t, []step{{op: "COPY", table: tickersTable, code: "23505"}, copyOK(tickersStage, 100), merged(tickersTable)},
					log.take("tickers"), "stored keys met: the COPY is undone and the batch merged")

				require.Equal(t, store.Result{Requested: 50, Inserted: 50}, load(tickerRun(250, 50)))
				require.Equal(t, []step{copyOK(tickersStage, 50), merged(tickersTable)}, log.take("tickers"),
					"after a conflict the next batch goes straight to the merge")

				require.Equal(t, store.Result{Requested: 50, Inserted: 50}, load(tickerRun(300, 50)))
				require.Equal(t, []step{copyOK(tickersTable, 50)}, log.take("tickers"), "a clean merge brings the straight path back")

				// Out of key order, with a key twice: the loader sorts and
				// de-duplicates it, so it is copied straight, in key order.
				shuffled := tickerRun(350, 50)
				slices.Reverse(shuffled)
				shuffled = append(shuffled, shuffled[10])
				require.Equal(t, store.Result{Requested: 51, Inserted: 50, Duplicates: 1}, load(shuffled))
				require.Equal(t, []step{copyOK(tickersTable, 50)}, log.take("tickers"), "out of key order: sorted, straight COPY")
				var stored []time.Time
				rows, err := s.Pool().Query(ctx, `SELECT ts FROM market.tickers WHERE ts >= $1 ORDER BY tableoid, ctid`, t0.Add(350*time.Minute))
				require.NoError(t, err)
				stored, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
				require.NoError(t, err)
				require.Len(t, stored, 50)
				require.True(t, slices.IsSortedFunc(stored, time.Time.Compare), "written in key order")

				require.Equal(t, 400, count(t, s, `SELECT count(*) FROM market.tickers`))
				require.Equal(t, 400, count(t, s, `SELECT count(DISTINCT ts) FROM market.tickers`))
			})

			t.Run("probed", func(t *testing.T) {
				load := func(rows []market.Candle) store.Result {
					t.Helper()
					r, err := s.Candles(ctx, rows)
					require.NoError(t, err)
					return r
				}
				closeAt := func(i int) (string, bool) {
					var c string
					var closed bool
					require.NoError(t, s.Pool().QueryRow(ctx, `SELECT close::text, closed FROM market.candles WHERE symbol = 'BTC/USDT' AND ts = $1`,
						t0.Add(time.Duration(i)*time.Minute)).Scan(&c, &closed))
					return c, closed
				}
				log.take("")

				// New keys: copied straight in, no stage, no merge.
				first := append(closedRun("BTC/USDT", 0, 100, "1"), candle("BTC/USDT", 100, "1", false))
				require.Equal(t, store.Result{Requested: 101, Inserted: 101}, load(first))
				require.Empty(t, log.take("candles"), "new keys: no merge")
				require.Equal(t, 101, count(t, s, `SELECT count(*) FROM market.candles`))
				v := versions(t, s)

				// The same rows again, out of order: duplicates, no write at all.
				again := slices.Clone(first)
				slices.Reverse(again)
				require.Equal(t, store.Result{Requested: 101, Duplicates: 101}, load(again))
				require.Empty(t, log.take("candles"), "identical rows: no merge")
				require.Equal(t, v, versions(t, s), "identical rows: no new row versions")

				// Stored and new keys in one batch: the new ones copied in,
				// the stored ones left alone (not the whole batch merged).
				require.Equal(t, store.Result{Requested: 100, Inserted: 50, Duplicates: 50},
					load(append(closedRun("BTC/USDT", 50, 50, "1"), closedRun("BTC/USDT", 101, 50, "1")...)))
				require.Empty(t, log.take("candles"), "stored keys met: still no merge")
				now := versions(t, s)
				require.Len(t, now, 151)
				for i, x := range v {
					require.Equal(t, x, now[i], "minute %d rewritten", i)
				}
				v = now

				// The open candle changed, among identical and new rows: it
				// alone goes through the stage and is updated.
				batch := append(closedRun("BTC/USDT", 90, 10, "1"), candle("BTC/USDT", 100, "2", false))
				batch = append(batch, closedRun("BTC/USDT", 151, 10, "1")...)
				require.Equal(t, store.Result{Requested: 21, Inserted: 10, Updated: 1, Duplicates: 10}, load(batch))
				require.Equal(t, []step{copyOK(candlesStage, 1), merged(candlesTable)}, log.take("candles"), "only the changed open candle is merged")
				c, closed := closeAt(100)
				require.Equal(t, "2", c)
				require.False(t, closed)
				now = versions(t, s)
				require.NotEqual(t, v[100], now[100], "the open candle was written")
				for i := 90; i < 100; i++ {
					require.Equal(t, v[i], now[i], "minute %d rewritten", i)
				}

				// Its final version closes it, through the merge too.
				require.Equal(t, store.Result{Requested: 1, Updated: 1}, load([]market.Candle{candle("BTC/USDT", 100, "3", true)}))
				require.Equal(t, []step{copyOK(candlesStage, 1), merged(candlesTable)}, log.take("candles"))
				c, closed = closeAt(100)
				require.Equal(t, "3", c)
				require.True(t, closed)
				v = versions(t, s)

				// Closed candles with other values are conflicts: kept out,
				// recorded with both versions; a late open copy of a closed
				// candle is a duplicate. Nothing is written to the candles.
				conflicts := count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict'`)
				require.Equal(t, store.Result{Requested: 4, Duplicates: 2, Conflicts: 2}, load([]market.Candle{
					candle("BTC/USDT", 5, "9", true), candle("BTC/USDT", 6, "1", true),
					candle("BTC/USDT", 7, "8", false), candle("BTC/USDT", 100, "4", true)}))
				require.Empty(t, log.take("candles"), "conflicts and duplicates: no merge")
				require.Equal(t, v, versions(t, s), "conflicts and duplicates: no new row versions")
				for i, want := range map[int]string{5: "1", 7: "1", 100: "3"} {
					c, closed := closeAt(i)
					require.Equal(t, want, c, "minute %d", i)
					require.True(t, closed, "minute %d", i)
				}
				require.Equal(t, conflicts+2, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict'`))
				for i, vals := range map[int][2]string{5: {"1", "9"}, 100: {"3", "4"}} {
					require.Equal(t, 1, count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict' AND data_type = 'ohlcv'
						AND (payload->'incoming'->'ohlcv'->>0)::bigint = $1
						AND (payload->'stored'->'ohlcv'->>4)::numeric = $2::text::numeric AND (payload->'incoming'->'ohlcv'->>4)::numeric = $3::text::numeric`,
						t0.Add(time.Duration(i)*time.Minute).UnixMilli(), vals[0], vals[1]), "the conflict at minute %d, both versions", i)
				}

				require.Equal(t, 161, count(t, s, `SELECT count(*) FROM market.candles`))
				require.Equal(t, 161, count(t, s, `SELECT count(DISTINCT ts) FROM market.candles`))
			})
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
// still updated (through the merge), closed candles still never change
// (other values are conflicts, the same values duplicates), new rows are
// copied in, and stored rows met again, by one writer or by several at
// once, are not duplicated. An unprobed table's straight COPY meets the
// compressed keys too, and falls back to the merge.
func TestCompressedChunks(t *testing.T) {
	url := pgtest.TimescaleMigratedDB(t)
	pgtest.HoldPolicies(t, url)
	s, log := tracedStore(t, url)
	ctx := context.Background()
	load := func(rows []market.Candle) store.Result {
		t.Helper()
		r, err := s.Candles(ctx, rows)
		require.NoError(t, err)
		return r
	}
	conflicts := func() int {
		return count(t, s, `SELECT count(*) FROM ops.rejected_rows WHERE code = 'conflict' AND data_type = 'ohlcv'`)
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
	log.take("")

	// The open candle, compressed, is updated by a later fetch through the
	// merge, then closed.
	require.Equal(t, store.Result{Requested: 1, Updated: 1}, load([]market.Candle{candleAt("BTC/USDT", openAt, "100.2", false)}))
	require.Equal(t, []step{copyOK(candlesStage, 1), merged(candlesTable)}, log.take("candles"))
	c, closed := closeAt(openAt)
	require.Equal(t, "100.2", c)
	require.False(t, closed)
	require.Equal(t, store.Result{Requested: 1, Updated: 1}, load([]market.Candle{candleAt("BTC/USDT", openAt, "100.3", true)}))
	require.Equal(t, []step{copyOK(candlesStage, 1), merged(candlesTable)}, log.take("candles"))
	// Closed now: a late partial copy changes nothing, a final copy with
	// other values is a conflict.
	require.Equal(t, store.Result{Requested: 2, Duplicates: 1, Conflicts: 1}, load([]market.Candle{
		candleAt("BTC/USDT", openAt, "999", false), candleAt("BTC/USDT", openAt, "998", true)}))
	require.Empty(t, log.take("candles"))
	c, closed = closeAt(openAt)
	require.Equal(t, "100.3", c)
	require.True(t, closed)
	require.Equal(t, 1, conflicts())
	require.Equal(t, closedBefore, closedDigest(t, s, openAt), "the other closed candles are untouched")

	// New rows into the compressed chunks: copied straight in, no merge.
	eth := make([]market.Candle, 0, len(btc))
	sol := make([]market.Candle, 0, len(btc))
	for _, x := range btc {
		x.Symbol = "ETH/USDT"
		eth = append(eth, x)
		x.Symbol = "SOL/USDT"
		sol = append(sol, x)
	}
	require.Equal(t, store.Result{Requested: len(eth), Inserted: len(eth)}, load(eth))
	require.Equal(t, store.Result{Requested: len(sol), Inserted: len(sol)}, load(sol))
	require.Empty(t, log.take("candles"), "new rows into compressed chunks: no merge")
	require.Equal(t, len(btc), count(t, s, `SELECT count(*) FROM market.candles WHERE symbol = 'SOL/USDT'`))

	// The closed candles again, recompressed: the same values are
	// duplicates, other values conflicts; the stored ones are kept either
	// way, and nothing is merged.
	pgtest.CompressChunks(t, s.Pool(), "market.candles")
	before := closedDigest(t, s, time.Time{})
	require.Equal(t, store.Result{Requested: len(btc), Duplicates: len(btc)}, load(btc))
	changed := slices.Clone(btc)
	for i := range changed {
		changed[i].Close = d("555")
	}
	require.Equal(t, store.Result{Requested: len(changed), Conflicts: len(changed)}, load(changed))
	require.Empty(t, log.take("candles"), "duplicates and conflicts: no merge")
	require.Equal(t, before, closedDigest(t, s, time.Time{}), "closed candles in compressed chunks never change")
	require.Equal(t, 1+len(changed), conflicts())
	require.GreaterOrEqual(t, count(t, s, `SELECT count(*) FROM timescaledb_information.chunks
WHERE hypertable_schema = 'market' AND hypertable_name = 'candles' AND is_compressed`), 3, "the rows compared were compressed")

	// Concurrent writers meeting the compressed rows at once, in both key
	// orders, each with the same new rows: no deadlock, nothing changed,
	// each new key stored once, each writer's conflicts counted.
	pgtest.CompressChunks(t, s.Pool(), "market.candles")
	xrp := make([]market.Candle, 0, len(btc))
	for _, x := range btc {
		x.Symbol = "XRP/USDT"
		xrp = append(xrp, x)
	}
	batch := append(slices.Clone(changed), xrp...) // key order: BTC < XRP
	sum := loadConcurrently(t, s, batch, 6)
	require.Equal(t, store.Result{Requested: 6 * len(batch), Inserted: len(xrp), Duplicates: 5 * len(xrp), Conflicts: 6 * len(changed)}, sum)
	require.Equal(t, before, closedDigest(t, s, time.Time{}), "closed candles in compressed chunks never change")
	require.Equal(t, 1+7*len(changed), conflicts())
	require.Equal(t, 4*len(btc)+1, count(t, s, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 4*len(btc)+1, count(t, s, `SELECT count(DISTINCT (symbol, ts)) FROM market.candles`))

	// Tickers, unprobed: the straight COPY meets the compressed keys
	// (TimescaleDB checks them), the batch is merged instead, the stored
	// rows are kept and none is stored twice.
	loadTickers := func(rows []market.Ticker) store.Result {
		t.Helper()
		r, err := s.Tickers(ctx, rows)
		require.NoError(t, err)
		return r
	}
	every30m := func(first, n int) []market.Ticker {
		out := tickerRun(0, n)
		for i := range out {
			out[i].Time = t0.Add(time.Duration(first+i) * 30 * time.Minute)
		}
		return out
	}
	require.Equal(t, store.Result{Requested: 3 * 48, Inserted: 3 * 48}, loadTickers(every30m(0, 3*48)))
	require.GreaterOrEqual(t, pgtest.CompressChunks(t, s.Pool(), "market.tickers"), 3)
	log.take("")
	require.Equal(t, store.Result{Requested: 3 * 48, Inserted: 24, Duplicates: 3*48 - 24}, loadTickers(every30m(24, 3*48)))
	// The fourth day's range is new: its first row is a part alone, after
	// which the straight COPY is tried again.
	require.Equal(t, []step{{op: "COPY", table: tickersTable, code: "23505"}, copyOK(tickersStage, 3*48-24), merged(tickersTable),
		copyOK(tickersStage, 1), merged(tickersTable), copyOK(tickersTable, 23)},
		log.take("tickers"), "the straight COPY meets the compressed keys")
	require.Equal(t, 4*48-24, count(t, s, `SELECT count(*) FROM market.tickers`))
	require.Equal(t, 4*48-24, count(t, s, `SELECT count(DISTINCT ts) FROM market.tickers`))
}

// An import moves market.candles' compression policy one interval ahead,
// so it does not compress the chunks the import is filling; a policy
// already further out stays where it is. Plain PostgreSQL has none.
func TestDeferCandleCompression(t *testing.T) {
	for _, b := range pgtest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			url := b.MigratedDB(t)
			s, err := store.Open(context.Background(), url, store.Options{})
			require.NoError(t, err)
			t.Cleanup(s.Close)
			ctx := context.Background()
			deferred, err := s.DeferCandleCompression(ctx)
			require.NoError(t, err)
			if b.Variant != schema.TimescaleDB {
				require.False(t, deferred)
				return
			}
			require.True(t, deferred)
			const policy = `FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' AND hypertable_schema = 'market' AND hypertable_name = 'candles'`
			var ahead bool
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT next_start >= now() + schedule_interval - interval '1 minute' `+policy).Scan(&ahead))
			require.True(t, ahead, "the policy runs one interval after the import starts, not under it")

			// Further out already: left there.
			_, err = s.Pool().Exec(ctx, `SELECT alter_job(job_id, next_start => now() + interval '100 days') `+policy)
			require.NoError(t, err)
			_, err = s.DeferCandleCompression(ctx)
			require.NoError(t, err)
			var far bool
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT next_start > now() + interval '99 days' `+policy).Scan(&far))
			require.True(t, far)
		})
	}
}

// TestChunkOpenedByOneRow: a batch across chunk ranges writes the first
// row of each new range in a transaction of its own (so the lock
// TimescaleDB holds for a new chunk until commit is let go at once), and
// the ranges the store computes are the ones TimescaleDB creates.
func TestChunkOpenedByOneRow(t *testing.T) {
	url := pgtest.TimescaleMigratedDB(t)
	pgtest.HoldPolicies(t, url)
	s := store.New(pgtest.Pool(t, url), nil)
	ctx := context.Background()
	// Four weeks of minutes from a Friday, then a week more: a batch
	// smaller than a part that opens a range too.
	for _, rows := range [][]market.Candle{closedRun("BTC/USDT", 0, 4*7*1440, "100.5"), closedRun("BTC/USDT", 4*7*1440, 7*1440, "100.5")} {
		r, err := s.Candles(ctx, rows)
		require.NoError(t, err)
		require.Equal(t, len(rows), r.Inserted)
	}

	chunks, err := s.Pool().Query(ctx, `SELECT range_start, range_end FROM timescaledb_information.chunks
		WHERE hypertable_schema = 'market' AND hypertable_name = 'candles' ORDER BY range_start`)
	require.NoError(t, err)
	ranges, err := pgx.CollectRows(chunks, pgx.RowToStructByPos[struct{ Start, End time.Time }])
	require.NoError(t, err)
	require.Len(t, ranges, 6)
	week := 7 * 24 * time.Hour
	for _, c := range ranges {
		require.Equal(t, week, c.End.Sub(c.Start))
		require.Zero(t, c.Start.UnixMicro()%week.Microseconds(), "chunk %s does not start on a week since the Unix epoch", c.Start)
		var alone int
		// The chunk's first transaction (its least xid: a part reaches into
		// a range only once the range's first row is written) wrote one row.
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM market.candles WHERE ts >= $1 AND ts < $2
			GROUP BY xmin::text::bigint ORDER BY xmin::text::bigint LIMIT 1`, c.Start, c.End).Scan(&alone))
		require.Equal(t, 1, alone, "the chunk at %s was created by a transaction of %d rows", c.Start, alone)
	}
}
