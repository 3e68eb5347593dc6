package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/daemon/daemontest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/spool"
)

// Two daemons on one host with the same instance name would share a
// spool: the second stops at start, and its message names the fix.
func TestSpoolCollisionNamesTheFix(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the default spool lives under the user's cache
	rp := newReplay(t, nil)
	cfg := daemontest.Config(t, rp.URL, migratedDB(t), "binance")
	cfg.Store.SpoolDir = "" // the default: one directory per database and instance
	cfg.Instance = "twin"
	dir := spool.DefaultDir(cfg.DatabaseURL.Reveal(), cfg.Instance)
	first, err := spool.Open(dir, spool.Options{}) // the other daemon's
	require.NoError(t, err)
	defer first.Close()

	err = daemon.Run(context.Background(), cfg, nil)
	var ce *config.Error
	require.True(t, errors.As(err, &ce), "a configuration error (exit 2), got %v", err)
	require.Equal(t, "instance", ce.Key)
	require.Contains(t, err.Error(), "`instance`")
	require.Contains(t, err.Error(), "store.spool_dir")
	require.Contains(t, err.Error(), `"twin"`)

	cfg.Store.SpoolDir = dir
	err = daemon.Run(context.Background(), cfg, nil)
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "store.spool_dir", ce.Key)
}

// /status and /metrics count the batches in quarantine and the spool
// records set aside as corrupt, so neither goes unnoticed.
func TestStatusCountsQuarantineAndCorrupt(t *testing.T) {
	rp := newReplay(t, nil)
	cfg := daemontest.Config(t, rp.URL, migratedDB(t), "binance")
	sp, err := spool.Open(cfg.Store.SpoolDir, spool.Options{})
	require.NoError(t, err)
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	batch := func(i int) []market.Ticker {
		return []market.Ticker{{Exchange: "binance", Symbol: "BTC/USDT", Time: t0.Add(time.Duration(i) * time.Second), Last: market.MustDecimal("1")}}
	}
	require.NoError(t, sp.Quarantine("tickers", batch(0), "refused"))
	for i := range 3 {
		require.NoError(t, sp.Append("tickers", batch(i+1), 1))
	}
	require.NoError(t, sp.Close())
	segs, err := filepath.Glob(filepath.Join(cfg.Store.SpoolDir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[40] ^= 0x10 // inside the first record's body
	require.NoError(t, os.WriteFile(segs[0], b, 0o640))

	d := startDaemon(t, cfg)
	_, raw := getStatus(t, cfg.Listen)
	var st struct {
		Spool struct {
			Quarantined int `json:"quarantined_batches"`
			Corrupt     int `json:"corrupt_records"`
		} `json:"spool"`
	}
	require.NoError(t, json.Unmarshal(raw, &st), string(raw))
	require.Equal(t, 1, st.Spool.Quarantined, string(raw))
	require.Equal(t, 1, st.Spool.Corrupt, string(raw))
	resp, err := http.Get("http://" + cfg.Listen + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	m, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(m), "mdingest_spool_quarantined_batches 1")
	require.Contains(t, string(m), `mdingest_spool_corrupt_records_total{reason="corrupt"} 1`)
	require.NoError(t, d.Stop(t))
}
