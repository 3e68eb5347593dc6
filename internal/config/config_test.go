package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func noEnv(string) (string, bool) { return "", false }

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"binance", "htx", "kraken", "kucoin"}, c.Enabled())
	// Candle series are kept whole by default: holes are filled daily and a
	// restart catches up a day.
	require.True(t, c.Jobs.GapFill)
	require.Equal(t, 24*time.Hour, c.Jobs.CandleCatchup.D())
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mdingest.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
listen: 127.0.0.1:9999
exchanges:
  binance:
    base_url: http://127.0.0.1:8700/binance
    symbols: [btc/usdt]
  okx:
    enabled: true
jobs:
  realtime: 2s
store:
  retention:
    tickers: 7d
`), 0o600))
	env := map[string]string{"DATABASE_URL": "postgres://u:pw@db:5432/x", "MDINGEST_LISTEN": "127.0.0.1:7000", "REDIS_URL": ""}
	c, err := Load(path, true, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "127.0.0.1:7000", c.Listen, "environment beats the file")
	require.Equal(t, "http://127.0.0.1:8700/binance", c.Exchanges["binance"].BaseURL)
	require.Equal(t, "BTC/USDT", string(c.Exchanges["binance"].Symbols[0]), "symbols normalised")
	require.True(t, c.Exchanges["binance"].Enabled, "unset fields keep their defaults")
	require.Equal(t, 30*time.Second, c.Exchanges["binance"].Timeout.D())
	require.True(t, c.Exchanges["okx"].Enabled)
	require.Equal(t, []string{"binance", "okx"}, c.Enabled(), "the file's exchanges, exactly")
	require.Equal(t, 2*time.Second, c.Jobs.Realtime.D())
	require.Equal(t, 30*time.Second, c.Jobs.High.D())
	require.Equal(t, 7*24*time.Hour, c.Store.Retention["tickers"].D())
	require.Equal(t, "postgres://u:xxxxx@db:5432/x", c.DatabaseURL.String())
	require.Equal(t, "postgres://u:pw@db:5432/x", c.DatabaseURL.Reveal())
}

// TestExchangesMapIsExact: a file naming some exchanges runs exactly those,
// enabled unless it says otherwise; one naming none keeps the built-in set.
func TestExchangesMapIsExact(t *testing.T) {
	c := Default()
	require.NoError(t, c.LoadYAML([]byte("exchanges:\n  bitstamp: {base_url: 'http://127.0.0.1:8700/bitstamp'}\n  kraken: {enabled: false}\n")))
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"bitstamp"}, c.Enabled())
	require.Equal(t, Default().Exchanges["binance"].Symbols, c.Exchanges["binance"].Symbols, "unnamed ones stay known, with defaults")

	c = Default()
	require.NoError(t, c.LoadYAML([]byte("listen: 127.0.0.1:1\n")))
	def := Default()
	require.Equal(t, def.Enabled(), c.Enabled())
}

func TestMissingOptionalFileIsDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), false, noEnv)
	require.NoError(t, err)
	require.Equal(t, Default().Listen, c.Listen)
	_, err = Load(filepath.Join(t.TempDir(), "absent.yaml"), true, noEnv)
	require.Error(t, err)
}

func TestBadConfigNamesKey(t *testing.T) {
	cases := []struct {
		yaml, key string
	}{
		{"listen: nope", "listen"},
		{"log_format: xml", "log_format"},
		{"bogus: 1", "bogus"},
		{"exchanges: {binance: {bogus: 1}}", "exchanges.binance.bogus"},
		{"exchanges: {binance: {timeout: soon}}", "exchanges.binance.timeout"},
		{"exchanges: {mtgox: {enabled: true}}", "exchanges.mtgox"},
		{"exchanges: {binance: {base_url: 'http://api.binance.com'}}", "exchanges.binance.base_url"},
		{"exchanges: {binance: {symbols: [BTCUSDT]}}", "exchanges.binance.symbols[0]"},
		{"exchanges: {binance: {symbols: []}}", "exchanges.binance.symbols"},
		{"exchanges: {binance: {critical_symbols: [SOL/USDT]}}", "exchanges.binance.critical_symbols[0]"},
		{"exchanges: {binance: {timeframes: [2m]}}", "exchanges.binance.timeframes[0]"},
		{"exchanges: {binance: {rate_limit: {limit: -1}}}", "exchanges.binance.rate_limit.limit"},
		{"exchanges: {binance: {rate_limit: {kind: rolling}}}", "exchanges.binance.rate_limit.kind"},
		{"exchanges: {binance: {rate_limit: {reserve: 0.9}}}", "exchanges.binance.rate_limit.reserve"},
		{"exchanges: {binance: {rate_limit: {reserve: -0.1}}}", "exchanges.binance.rate_limit.reserve"},
		{"egress_id: 'nat gateway'", "egress_id"},
		{"egress_id: 'a:b'", "egress_id"},
		{"jobs: {realtime: 10ms}", "jobs.realtime"},
		{"jobs: {failure_threshold: 0}", "jobs.failure_threshold"},
		{"jobs: {candle_catchup: 30s}", "jobs.candle_catchup"},
		{"jobs: {gap_fill_window: 10m}", "jobs.gap_fill_window"},
		{"quality: {thresholds: {accuracy: 1.5}}", "quality.thresholds.accuracy"},
		{"quality: {weights: {completeness: 0, accuracy: 0, consistency: 0, timeliness: 0, validity: 0, uniqueness: 0}}", "quality.weights"},
		{"quality: {weights: {completeness: 0.9}}", "quality.weights"},
		{"cache: {orderbook: 0s}", "cache.orderbook"},
		{"store: {batch_size: 0}", "store.batch_size"},
		{"store: {timescaledb: maybe}", "store.timescaledb"},
		{"store: {retention: {candlez: 1d}}", "store.retention.candlez"},
		{"database_url: 'mysql://x'", "database_url"},
		{"database_url: 'postgres://h:99999/db'", "database_url"},
		{"redis_url: 'http://x'", "redis_url"},
		{"database_url: 'postgres://u:hunter2@h/db'", "database_url"},
	}
	for _, tc := range cases {
		t.Run(tc.yaml, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tc.yaml), 0o600))
			c, err := Load(path, true, noEnv)
			if err == nil {
				err = c.Validate()
			}
			require.Error(t, err)
			var ce *Error
			require.True(t, errors.As(err, &ce), "%T %v", err, err)
			require.True(t, errors.Is(err, ErrInvalid))
			require.Equal(t, tc.key, ce.Key, "message: %v", err)
			require.NotContains(t, err.Error(), "hunter2", "no password in errors")
		})
	}
}

// Every size and count has a bound: past it, the key is named instead of
// the daemon running out of memory (a queue of 2,000,000,000 batches) or
// overflowing a duration.
func TestBoundsNameTheirKey(t *testing.T) {
	many := func(n int) string {
		syms := make([]string, n)
		for i := range syms {
			syms[i] = fmt.Sprintf("S%d/USDT", i)
		}
		return "[" + strings.Join(syms, ", ") + "]"
	}
	cases := []struct {
		yaml, key string
	}{
		{"store: {queue_size: 2000000000}", "store.queue_size"},
		{"store: {batch_size: 1000001}", "store.batch_size"},
		{"store: {spool_max_bytes: 2000000000000}", "store.spool_max_bytes"},
		{"store: {flush_interval: 2h}", "store.flush_interval"},
		{"store: {drain_timeout: 2h}", "store.drain_timeout"},
		{"store: {drain_timeout: 0s}", "store.drain_timeout"},
		{"store: {retention: {tickers: 40000d}}", "store.retention.tickers"},
		{"store: {retention: {tickers: 200000d}}", "store.retention.tickers"},
		{"cache: {max_entries: 2000000000}", "cache.max_entries"},
		{"cache: {ticker: 400d}", "cache.ticker"},
		{"jobs: {failure_threshold: 1000000}", "jobs.failure_threshold"},
		{"jobs: {realtime: 40d}", "jobs.realtime"},
		{"jobs: {jitter: 2h}", "jobs.jitter"},
		{"jobs: {gap_fill_window: 400d}", "jobs.gap_fill_window"},
		{"exchanges: {binance: {concurrency: 1000}}", "exchanges.binance.concurrency"},
		{"exchanges: {binance: {depth: 5001}}", "exchanges.binance.depth"},
		{"exchanges: {binance: {timeout: 1h}}", "exchanges.binance.timeout"},
		{"exchanges: {binance: {rate_limit: {limit: 1e12}}}", "exchanges.binance.rate_limit.limit"},
		{"exchanges: {binance: {rate_limit: {burst: 2000000000}}}", "exchanges.binance.rate_limit.burst"},
		{"exchanges: {binance: {rate_limit: {window: 48h}}}", "exchanges.binance.rate_limit.window"},
		{"exchanges: {binance: {symbols: " + many(10_001) + "}}", "exchanges.binance.symbols"},
		{"exchanges: {binance: {timeframes: [1m, 5m, 15m, 1h, 4h, 1d, 1m]}}", "exchanges.binance.timeframes"},
		{"instance: " + strings.Repeat("x", 65), "instance"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			c := Default()
			err := c.LoadYAML([]byte(tc.yaml))
			if err == nil {
				err = c.Validate()
			}
			var ce *Error
			require.True(t, errors.As(err, &ce), "%s: want an error naming %s, got %v", tc.yaml[:min(len(tc.yaml), 60)], tc.key, err)
			require.Equal(t, tc.key, ce.Key, "message: %v", err)
		})
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("postgres://me:hunter2@db:5432/x?sslmode=disable")
	require.False(t, strings.Contains(s.String(), "hunter2"))
	b, err := s.MarshalText()
	require.NoError(t, err)
	require.NotContains(t, string(b), "hunter2")
	require.NotContains(t, s.LogValue().String(), "hunter2")
	require.Equal(t, "xxxxx", Secret("not a url with hunter2").String())
	require.NotContains(t, Secret("redis://h:6379/0?password=hunter2").String(), "hunter2")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"5s": 5 * time.Second, "90d": 90 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		d, err := ParseDuration(in)
		require.NoError(t, err)
		require.Equal(t, want, d.D())
	}
	for _, in := range []string{"", "d", "-1d", "soon"} {
		_, err := ParseDuration(in)
		require.Error(t, err, in)
	}
	require.Equal(t, "90d", Duration(90*24*time.Hour).String())
}

func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:1\nexchanges: {binance: {symbols: [BTC/USDT]}}"))
	f.Add([]byte("store: {retention: {tickers: 3d}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := c.LoadYAML(b); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error without key: %v", err)
			}
			return
		}
		_ = c.Validate()
	})
}

func TestEgressAndRateLimitKeys(t *testing.T) {
	c := Default()
	require.NoError(t, c.LoadYAML([]byte(`
egress_id: nat-eu-1
exchanges:
  binance:
    rate_limit: {kind: sliding, reserve: 0}
  kraken:
    rate_limit: {reserve: 0.2}
`)))
	require.NoError(t, c.Validate())
	require.Equal(t, "nat-eu-1", c.EgressID)
	require.Equal(t, "sliding", c.Exchanges["binance"].RateLimit.Kind)
	require.NotNil(t, c.Exchanges["binance"].RateLimit.Reserve, "0 is a choice, not unset")
	require.Zero(t, *c.Exchanges["binance"].RateLimit.Reserve)
	require.Equal(t, 0.2, *c.Exchanges["kraken"].RateLimit.Reserve)
	require.Nil(t, c.Exchanges["okx"].RateLimit.Reserve)

	c.LoadEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"MDINGEST_EGRESS_ID": "nat-eu-2"}[k]
		return v, ok
	})
	require.Equal(t, "nat-eu-2", c.EgressID, "the environment beats the file")
}
