package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/writer"
)

// candleRig is one exchange of exchange-replay, a migrated database, and
// the exchange's pipeline built as the daemon builds it, with the clock.
type candleRig struct {
	id      string
	clock   *replaytest.Clock
	st      *store.Store
	db      *pgxpool.Pool // the test's own look at the database
	cfg     config.Config
	client  *Client
	checker *quality.Checker
}

var btcUSDT = market.Symbol("BTC/USDT")

func newCandleRig(t *testing.T, id string, now time.Time) *candleRig {
	t.Helper()
	ck := replaytest.NewClock(now)
	srv := replaytest.NewServer(t, replay.Options{RateLimits: map[string]bool{id: false}, Now: ck.Now}, nil)

	url := pgtest.MigratedDB(t)
	st, err := store.Open(context.Background(), url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(st.Close)

	cfg := config.Default() // the default tiers, catch-up window and gap fill
	ex := cfg.Exchanges[id]
	ex.BaseURL = srv.URL + "/" + id
	ex.Symbols = []market.Symbol{btcUSDT}
	ex.RateLimit = config.RateLimitConfig{Limit: 1000, Window: config.Duration(time.Second), Burst: 100}
	cfg.Exchanges[id] = ex
	c, err := NewClient(cfg, id, ClientDeps{})
	require.NoError(t, err)
	t.Cleanup(c.HTTP.Close)
	checker, err := quality.NewChecker(QualityConfig(cfg))
	require.NoError(t, err)
	return &candleRig{id: id, clock: ck, st: st, db: pgtest.Pool(t, url), cfg: cfg, client: c, checker: checker}
}

// pipeline is a daemon (re)started: a fresh pipeline over the same
// database, writing synchronously so that each run's rows are there when it
// returns.
func (r *candleRig) pipeline(t *testing.T) *ingest.Pipeline {
	t.Helper()
	direct := writer.Synchronous{Store: r.st}
	p, err := newPipeline(r.cfg, r.id, r.client, r.checker, pipelineParts{
		sink: direct, rejects: direct, candles: r.st, now: r.clock.Now,
	})
	require.NoError(t, err)
	return p
}

// served is what the exchange serves for [from, to) now, as the
// connector reads it, paging forward (each page asked from a period early,
// as exchanges differ on whether since is inclusive).
func (r *candleRig) served(t *testing.T, tf market.Timeframe, from, to time.Time) []market.Candle {
	t.Helper()
	var out []market.Candle
	for since := from; since.Before(to); {
		cs, err := r.client.OHLCV(context.Background(), btcUSDT, tf, since.Add(-tf.Duration()), r.client.Capabilities().MaxCandles)
		require.NoError(t, err)
		next := since
		for _, c := range cs {
			if !c.Time.Before(since) && c.Time.Before(to) && (len(out) == 0 || c.Time.After(out[len(out)-1].Time)) {
				out = append(out, c)
			}
			next = maxTime(next, c.End())
		}
		if !next.After(since) {
			break
		}
		since = next
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// storedCandle is a row of market.candles, values as stored.
type storedCandle struct {
	ts                       time.Time
	open, high, low, cl, vol market.Decimal
	closed                   bool
}

func (r *candleRig) stored(t *testing.T, tf market.Timeframe) []storedCandle {
	t.Helper()
	rows, err := r.db.Query(context.Background(), `SELECT ts, open::text, high::text, low::text, close::text, volume::text, closed
FROM market.candles WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 ORDER BY ts`, r.id, string(btcUSDT), string(tf))
	require.NoError(t, err)
	defer rows.Close()
	var out []storedCandle
	for rows.Next() {
		var c storedCandle
		var o, h, l, cl, v string
		require.NoError(t, rows.Scan(&c.ts, &o, &h, &l, &cl, &v, &c.closed))
		c.ts = c.ts.UTC()
		c.open, c.high, c.low, c.cl, c.vol = market.MustDecimal(o), market.MustDecimal(h), market.MustDecimal(l), market.MustDecimal(cl), market.MustDecimal(v)
		out = append(out, c)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireWhole checks the stored series over [from, to): one candle for
// every period the exchange serves, none it does not, each ended one
// closed with the exchange's final values (served after the periods
// ended); a candle still running at asOf may be open.
func (r *candleRig) requireWhole(t *testing.T, tf market.Timeframe, from, to, asOf time.Time) {
	t.Helper()
	final := r.served(t, tf, from, to)
	require.NotEmpty(t, final)
	byTime := map[time.Time]storedCandle{}
	for _, c := range r.stored(t, tf) {
		byTime[c.ts] = c
	}
	missing, open, differ := 0, 0, 0
	for _, f := range final {
		s, ok := byTime[f.Time]
		switch {
		case !ok:
			missing++
			t.Logf("%s: %s missing", r.id, f.Time.Format(time.RFC3339))
		case !s.closed && f.ClosedAt(asOf):
			open++
			t.Logf("%s: %s ended at %s but is stored open", r.id, f.Time.Format(time.RFC3339), asOf.Format(time.RFC3339))
		case s.closed && (s.open.Cmp(f.Open) != 0 || s.high.Cmp(f.High) != 0 || s.low.Cmp(f.Low) != 0 ||
			s.cl.Cmp(f.Close) != 0 || s.vol.Cmp(f.Volume) != 0):
			differ++
			t.Logf("%s: %s stored %s/%s/%s/%s/%s, the exchange's final %s/%s/%s/%s/%s", r.id, f.Time.Format(time.RFC3339),
				s.open, s.high, s.low, s.cl, s.vol, f.Open, f.High, f.Low, f.Close, f.Volume)
		}
		delete(byTime, f.Time)
	}
	require.Zero(t, missing, "%s: %d of the %d candles the exchange serves in [%s, %s) are missing", r.id, missing, len(final), from, to)
	require.Zero(t, open, "%s: ended candles stored open", r.id)
	require.Zero(t, differ, "%s: closed candles that differ from the exchange's final values", r.id)
	for ts := range byTime {
		require.False(t, !ts.Before(from) && ts.Before(to), "%s: %s stored but not served", r.id, ts)
	}
}

// tick runs the candle job once at the clock's time.
func tick(t *testing.T, p *ingest.Pipeline) {
	t.Helper()
	_, err := p.Candles(context.Background())
	require.NoError(t, err)
}

// recently is a time ago before now, at second sec of its minute. The tests'
// clocks run in the recent past, where the connectors (OKX picks its
// candles endpoint by its own clock) see them as the exchanges would.
func recently(ago, sec time.Duration) time.Time {
	return time.Now().UTC().Add(-ago).Truncate(time.Minute).Add(sec)
}

var allExchanges = []string{"binance", "kraken", "kucoin", "htx", "okx", "bybit", "coinbaseexchange", "bitstamp"}

// TestCandleJobKeepsTheSeriesWhole runs the candle job on the default
// medium tier (a run every 5 minutes) for 40 minutes: every minute from the
// first stored candle on is stored, and every ended one closed with the
// exchange's final values. The issue measured 3 of every 5 minutes, and the
// minute open at a run left open for good (22:58 ... 23:02* 23:05 ...).
func TestCandleJobKeepsTheSeriesWhole(t *testing.T) {
	t.Parallel()
	for _, id := range allExchanges {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			start := recently(time.Hour, 30*time.Second)
			r := newCandleRig(t, id, start)
			every := r.cfg.Jobs.Medium.D()
			require.Equal(t, 5*time.Minute, every, "the default medium tier")
			p := r.pipeline(t)
			var last time.Time
			for i := range 9 {
				last = start.Add(time.Duration(i) * every)
				r.clock.Set(last)
				tick(t, p)
			}
			first := r.stored(t, market.TF1m)[0].ts
			require.True(t, first.Before(start), "the first run stores the latest candles")
			r.clock.Set(last.Add(time.Hour)) // the exchange's final values
			r.requireWhole(t, market.TF1m, first, last.Truncate(time.Minute).Add(time.Minute), last)
			// Only the minute running at the last run is open.
			stored := r.stored(t, market.TF1m)
			require.False(t, stored[len(stored)-1].closed)
			require.True(t, stored[len(stored)-1].ts.Equal(last.Truncate(time.Minute)))
		})
	}
}

// TestCandleJobCatchesUpAfterStop seeds the database as a daemon stopped
// two hours ago left it (an hour of candles, the last one open), then
// restarts: one run stores every minute since, closes the open one with
// its final values, and the series is whole. The issue measured 61 of 179
// minutes after a two-hour stop.
func TestCandleJobCatchesUpAfterStop(t *testing.T) {
	t.Parallel()
	for _, id := range allExchanges {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			stopped := recently(2*time.Hour+time.Minute, 20*time.Second)
			r := newCandleRig(t, id, stopped)
			seedFrom := stopped.Truncate(time.Minute).Add(-time.Hour)
			seed := r.served(t, market.TF1m, seedFrom, stopped.Truncate(time.Minute).Add(time.Minute))
			for i := range seed {
				seed[i].Closed = seed[i].ClosedAt(stopped)
			}
			require.False(t, seed[len(seed)-1].Closed, "the minute running at the stop is stored open")
			_, err := r.st.Candles(context.Background(), seed)
			require.NoError(t, err)

			restarted := stopped.Add(2 * time.Hour)
			r.clock.Set(restarted)
			tick(t, r.pipeline(t))
			end := restarted.Truncate(time.Minute).Add(time.Minute)
			r.requireWhole(t, market.TF1m, seedFrom, end, restarted)
			require.GreaterOrEqual(t, len(r.stored(t, market.TF1m)), 179)
		})
	}
}

// TestCandleJobRepairsWhatTheOldJobLeft seeds the pattern the issue
// measured (the latest 3 minutes every 5: two missing, one stored open for
// good) over the last hour; the first run after the upgrade fetches from
// the oldest open candle and leaves the hour whole.
func TestCandleJobRepairsWhatTheOldJobLeft(t *testing.T) {
	t.Parallel()
	now := recently(time.Minute, 10*time.Second)
	r := newCandleRig(t, "binance", now)
	from := now.Truncate(time.Minute).Add(-time.Hour)
	var seed []market.Candle
	for i, c := range r.served(t, market.TF1m, from, now.Truncate(time.Minute)) {
		switch i % 5 {
		case 0, 1:
			c.Closed = true
		case 2:
			c.Closed = false // stored while open, never fetched again
		default:
			continue // never fetched
		}
		seed = append(seed, c)
	}
	_, err := r.st.Candles(context.Background(), seed)
	require.NoError(t, err)

	tick(t, r.pipeline(t))
	r.requireWhole(t, market.TF1m, from, now.Truncate(time.Minute).Add(time.Minute), now)
}

// TestCandleJobPagesAndRecordsHoles stops for 20 hours: more than one page
// on every exchange (300 to 2000 candles a page). What the exchange still
// serves is stored whole; what it no longer serves (Kraken keeps the latest
// 720 candles) is recorded as a hole that gaps lists as "no data at
// exchange" and the gap fill leaves alone.
func TestCandleJobPagesAndRecordsHoles(t *testing.T) {
	t.Parallel()
	for _, id := range allExchanges {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			stopped := recently(20*time.Hour+time.Minute, 20*time.Second)
			r := newCandleRig(t, id, stopped)
			seedFrom := stopped.Truncate(time.Minute).Add(-10 * time.Minute)
			seed := r.served(t, market.TF1m, seedFrom, stopped.Truncate(time.Minute))
			for i := range seed {
				seed[i].Closed = true
			}
			_, err := r.st.Candles(context.Background(), seed)
			require.NoError(t, err)

			restarted := stopped.Add(20 * time.Hour)
			r.clock.Set(restarted)
			tick(t, r.pipeline(t))
			end := restarted.Truncate(time.Minute).Add(time.Minute)
			resumed := stopped.Truncate(time.Minute)
			r.requireWhole(t, market.TF1m, resumed, end, restarted)
			require.Len(t, r.stored(t, market.TF1m)[:len(seed)], len(seed))
			require.True(t, r.stored(t, market.TF1m)[0].ts.Equal(seedFrom))

			gaps, err := backfill.FindGaps(context.Background(), r.st, backfill.GapQuery{
				Exchange: id, Timeframe: market.TF1m, Symbols: []market.Symbol{btcUSDT}, From: seedFrom, To: end, Now: restarted,
			})
			require.NoError(t, err)
			firstServed := r.served(t, market.TF1m, resumed, end)[0].Time
			if firstServed.Equal(resumed) {
				require.Empty(t, gaps)
				return
			}
			// The exchange no longer serves the start of the stop.
			require.Len(t, gaps, 1)
			g := gaps[0]
			require.True(t, g.NoData, "recorded as no data at the exchange")
			require.True(t, g.From.Equal(resumed), "hole from %s", g.From)
			require.True(t, g.To.Equal(firstServed), "hole to %s, first served %s", g.To, firstServed)
		})
	}
}
