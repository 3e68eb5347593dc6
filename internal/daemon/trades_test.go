package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
)

// tradeRate is the busy symbol: 100 trades a second.
const tradeRate = 100

// latestOnly are the exchanges that serve only their latest trades.
var latestOnly = map[string]bool{"kucoin": true, "htx": true, "bybit": true}

// keptTrades is what one exchange kept of the trades made in a window.
type keptTrades struct {
	exchange    string
	from, to    time.Time
	made, kept  int64
	holes       int64
	missed      int64 // trades the holes say were lost
	reports     int64
	minComplete float64
}

func (k keptTrades) ratio() float64 { return float64(k.kept) / float64(k.made) }

func (k keptTrades) String() string {
	kind := "cursor paging"
	if latestOnly[k.exchange] {
		kind = "latest-N polling"
	}
	return fmt.Sprintf("%-17s %-16s kept %6d of %6d trades made in %s: %.4f%% (%d holes saying %d missed, %d quality reports, lowest completeness %.3f)",
		k.exchange, kind, k.kept, k.made, k.to.Sub(k.from).Round(time.Second), 100*k.ratio(), k.holes, k.missed, k.reports, k.minComplete)
}

// captureAtRate runs the daemon with the default tiers and the
// exchanges' own rate limits (enforced by the replay too) against every
// exchange making tradeRate trades a second on BTC/USDT, for about dur,
// stops it, and counts per exchange the trades kept of those made from
// just after its first stored trade to shortly before the stop (the
// longest poll interval at this rate is 5 s) or to its newest stored
// trade, whichever is earlier.
func captureAtRate(t testing.TB, dur time.Duration) []keptTrades {
	srv := replaytest.NewServer(t, replay.Options{Symbols: []string{"BTC/USDT"}, TradeRate: tradeRate, RateLimits: map[string]bool{}}, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)

	cfg := config.Default()
	cfg.DatabaseURL = config.Secret(dbURL)
	cfg.Listen = daemontest.FreeAddr(t)
	cfg.Instance = "trades"
	cfg.LogLevel = "warn"
	cfg.Store.SpoolDir = t.TempDir()
	for _, id := range replay.Exchanges {
		e := cfg.Exchanges[id]
		e.Enabled, e.BaseURL, e.Symbols = true, srv.URL+"/"+id, []market.Symbol{"BTC/USDT"}
		cfg.Exchanges[id] = e
	}
	require.NoError(t, cfg.Validate())
	d := daemontest.Start(t, cfg, slog.LevelInfo)
	time.Sleep(dur)
	stopped := time.Now()
	require.NoError(t, d.Stop(t))

	ctx := context.Background()
	var out []keptTrades
	for _, ex := range replay.Exchanges {
		var first, last time.Time
		require.NoError(t, pool.QueryRow(ctx, `SELECT min(ts), max(ts) FROM market.trades WHERE exchange = $1`, ex).Scan(&first, &last), ex)
		// Trades after the newest stored one are not lost: the next start
		// pages on from it. A poll the loaded machine delayed past the
		// 6 s margin would otherwise count them as missing.
		to := stopped.Add(-6 * time.Second)
		require.True(t, last.After(stopped.Add(-20*time.Second)), "%s: capture fell behind: newest trade %s, stopped %s", ex, last, stopped)
		if last.Before(to) {
			to = last
		}
		k := keptTrades{exchange: ex, from: first.Add(time.Second).Truncate(time.Second), to: to.Truncate(time.Second)}
		require.True(t, k.to.After(k.from.Add(dur/2)), "%s: capture started late, at %s", ex, first)
		var err error
		k.made, err = srv.TradesBetween(ex, "BTC/USDT", k.from, k.to.Add(-time.Microsecond))
		require.NoError(t, err)
		k.kept = count(t, pool, `SELECT count(*) FROM market.trades WHERE exchange = $1 AND ts >= $2 AND ts < $3`, ex, k.from, k.to)
		k.holes = count(t, pool, `SELECT count(*) FROM ops.trade_holes WHERE exchange = $1`, ex)
		k.missed = count(t, pool, `SELECT coalesce(sum(missed), 0) FROM ops.trade_holes WHERE exchange = $1 AND from_ts < $3 AND to_ts > $2`,
			ex, k.from, k.to)
		k.reports = count(t, pool, `SELECT count(*) FROM ops.quality_reports WHERE exchange = $1 AND data_type = 'trades'`, ex)
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(min(completeness), 0) FROM ops.quality_reports WHERE exchange = $1 AND data_type = 'trades'`, ex).Scan(&k.minComplete))
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		return latestOnly[out[i].exchange] != latestOnly[out[j].exchange] && !latestOnly[out[i].exchange]
	})
	return out
}

// TestTradesKeptAt100PerSecond is the measurement, against every
// exchange at once: a symbol trading 100 times a second, the default
// tiers (the sampling trades job kept 3% at the 5-minute tier, 20.7% at
// 30 s). At least 99.9% of the trades made must be stored on each
// exchange that pages from a cursor, and on HTX, whose latest 2,000
// trades span 20 s at this rate. KuCoin's latest 100 and Bybit's latest
// 60 span 1 s and 0.6 s: a poll the machine delays longer than that (the
// race detector on a loaded two-core machine can: 83% was seen) loses
// trades whatever the schedule, so for them the test requires that
// nothing is lost without a trace: what is not kept is in a recorded
// hole. The floor of half is far above what sampling keeps (12% here),
// so polling that stopped adapting still fails; BenchmarkTradeCapture
// measures them on a quiet machine. Every quality report of a batch
// without a hole reads complete.
func TestTradesKeptAt100PerSecond(t *testing.T) {
	t.Parallel()
	var lines []string
	for _, k := range captureAtRate(t, 40*time.Second) {
		lines = append(lines, k.String())
		require.LessOrEqual(t, k.kept, k.made, "%s: more kept than made", k)
		if k.exchange == "kucoin" || k.exchange == "bybit" {
			require.GreaterOrEqual(t, k.ratio(), 0.5, "%s", k)
			require.GreaterOrEqual(t, float64(k.kept+k.missed), 0.999*float64(k.made), "%s: trades lost without a recorded hole", k)
		} else {
			require.GreaterOrEqual(t, k.ratio(), 0.999, "%s", k)
		}
		if k.holes == 0 {
			require.Equal(t, 1.0, k.minComplete, "%s", k)
		}
	}
	t.Logf("trades kept at %d/s with the default tiers:\n%s", tradeRate, strings.Join(lines, "\n"))
}

// BenchmarkTradeCapture reports the share of trades kept at 100 a second
// over MDINGEST_TRADE_BENCH_DURATION (default 3m), per kind of exchange:
//
//	go test -run '^$' -bench BenchmarkTradeCapture -benchtime 1x ./internal/daemon/
func BenchmarkTradeCapture(b *testing.B) {
	dur := envDuration(b, "MDINGEST_TRADE_BENCH_DURATION", 3*time.Minute)
	for range b.N {
		var made, kept [2]int64
		var lines []string
		for _, k := range captureAtRate(b, dur) {
			i := 0
			if latestOnly[k.exchange] {
				i = 1
			}
			made[i] += k.made
			kept[i] += k.kept
			lines = append(lines, k.String())
		}
		b.ReportMetric(100*float64(kept[0])/float64(made[0]), "%kept_paging")
		b.ReportMetric(100*float64(kept[1])/float64(made[1]), "%kept_latestN")
		b.Logf("trades kept at %d/s over %s with the default tiers:\n%s", tradeRate, dur, strings.Join(lines, "\n"))
	}
}

// TestTradeCaptureLease: two instances sharing a Redis capture an
// exchange's trades one at a time; when the holder stops, the other
// takes over from the newest stored trade.
func TestTradeCaptureLease(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	dbURL := migratedDB(t)
	pool := openPool(t, dbURL)
	rs := startRedis(t, "")
	var ds []*daemontest.Daemon
	for _, name := range []string{"a", "b"} {
		cfg := daemontest.Config(t, rp.URL, dbURL, "binance")
		cfg.Instance = name
		cfg.RedisURL = config.Secret(rs.URL())
		ds = append(ds, startDaemon(t, cfg))
	}
	// Exactly one of them fetches trades.
	fetched := func(d *daemontest.Daemon) bool {
		resp, err := http.Get("http://" + d.Config.Listen + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return strings.Contains(string(b), `mdingest_rows_fetched_total{exchange="binance",type="trades"}`)
	}
	require.Eventually(t, func() bool { return fetched(ds[0]) || fetched(ds[1]) }, waitFor, pollGap)
	time.Sleep(2 * time.Second) // a few polls and lease checks more
	holder, other := 0, 1
	if fetched(ds[1]) {
		holder, other = 1, 0
	}
	require.False(t, fetched(ds[other]), "both instances capture")
	require.NoError(t, ds[other].Stop(t))
	require.NoError(t, ds[holder].Stop(t))
	require.Equal(t, []string{ds[holder].Config.Instance}, instances(t, pool), "only the holder reports")

	// Started alone, the other takes over at once (the lease was released)
	// from the newest stored trade.
	d := startDaemon(t, ds[other].Config)
	before := count(t, pool, `SELECT count(*) FROM market.trades WHERE exchange = 'binance'`)
	require.Eventually(t, func() bool {
		return count(t, pool, `SELECT count(*) FROM market.trades WHERE exchange = 'binance'`) > before
	}, waitFor, pollGap, "the other instance captures")
	require.NoError(t, d.Stop(t))
	require.Len(t, instances(t, pool), 2)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM ops.trade_holes`), "the cursor carried over through the database")
}

// instances lists the instances that reported trade capture.
func instances(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT DISTINCT instance FROM ops.job_runs WHERE job = 'trades/binance' ORDER BY 1`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}
