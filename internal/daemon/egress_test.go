package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/replay"
)

// peersGauge reads mdingest_ratelimit_peers for an exchange from a
// daemon's /metrics.
func peersGauge(t *testing.T, addr, exchange string) string {
	t.Helper()
	return metricValue(t, addr, `mdingest_ratelimit_peers{exchange="`+exchange+`"}`)
}

// TestTwoInstancesWithoutRedisKeepToTheLimit (issue 12): two daemons on
// one egress without Redis learn of each other through PostgreSQL and each
// keeps to half of Kraken's budget, so together they never exceed it,
// although each alone would ask for more than the whole budget.
func TestTwoInstancesWithoutRedisKeepToTheLimit(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	// Kraken's bucket, scaled to 4 calls per second (a burst of 4).
	require.NoError(t, rp.SetRateLimit("kraken", true))
	require.NoError(t, rp.SetBudget("kraken", replay.Budget{Limit: 8, Window: 2 * time.Second}))
	dbURL := migratedDB(t)
	var ds []*daemontest.Daemon
	for _, name := range []string{"a", "b"} {
		cfg := daemontest.Config(t, rp.URL, dbURL, "kraken")
		cfg.Instance = name
		cfg.RedisURL = "" // no shared state
		cfg.EgressID = "test-egress-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:20]
		e := cfg.Exchanges["kraken"]
		e.RateLimit = config.RateLimitConfig{Limit: 8, Window: config.Duration(2 * time.Second), Kind: "bucket", Burst: 4}
		cfg.Exchanges["kraken"] = e
		ds = append(ds, startDaemon(t, cfg))
	}
	for _, d := range ds {
		require.Eventually(t, func() bool { return peersGauge(t, d.Config.Listen, "kraken") == "2" }, waitFor, pollGap,
			"daemon %s should count two processes on its egress", d.Config.Instance)
	}

	// Each daemon's jobs ask for about 3.5 calls a second: 7 together
	// against 4 allowed. Counted from the start: b held back when it
	// joined until a had learnt of it.
	time.Sleep(12 * time.Second)
	var served, refused int64
	for _, r := range rp.Stats()["kraken"].Routes {
		served += r.Requests
		refused += r.RateLimited
	}
	require.Zero(t, refused, "no request over Kraken's limit (%d served)", served)
	require.Greater(t, served, int64(30), "both kept working")
	for _, d := range ds {
		require.NoError(t, d.Stop(t))
	}
}
