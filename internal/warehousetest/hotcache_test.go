package warehousetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/cache"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
)

// TestHotCacheExample runs the example reader of README's "Redis hot
// cache" section against the cache the daemon writes: it prints a cached
// key, then the values published after it subscribed.
func TestHotCacheExample(t *testing.T) {
	ctx := context.Background()
	url := pgtest.RequireRedis(t)
	client, err := cache.NewRedisClient(url)
	require.NoError(t, err)
	defer client.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "mdingest-example-" + hex.EncodeToString(b)
	c, err := cache.New(cache.NewRedis(client), cache.DefaultConfig(), cache.Options{Prefix: prefix, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() {
		keys, _ := client.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	tk := market.Ticker{Exchange: "binance", Symbol: "BTC/USDT", Time: time.Now().UTC(),
		Bid: market.MustDecimal("100.1"), Ask: market.MustDecimal("100.2"), Last: market.MustDecimal("100.15")}
	require.NoError(t, c.SetTickers(ctx, []market.Ticker{tk}))

	bin := filepath.Join(t.TempDir(), "hotcache")
	build := exec.Command("go", "build", "-o", bin, "./examples/hotcache")
	build.Dir = repoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(bin, "-redis", url, "-prefix", prefix, "-kinds", "ticker,quality", "-n", "2",
		"-get", "ticker:binance:BTC/USDT")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func() string {
		require.True(t, lines.Scan(), "the example printed nothing more: %v", lines.Err())
		return lines.Text()
	}
	require.Contains(t, next(), `ticker:binance:BTC/USDT = {`)
	require.True(t, strings.HasPrefix(next(), "subscribed to "+prefix+":ticker, "+prefix+":quality"))

	tk.Last = market.MustDecimal("100.25")
	require.NoError(t, c.SetTickers(ctx, []market.Ticker{tk}))
	require.NoError(t, c.Notify(ctx, cache.KindQuality, "binance", "BTC/USDT", map[string]any{"score": 0.99}))
	line := next()
	require.True(t, strings.HasPrefix(line, "ticker"), line)
	require.Contains(t, line, "binance")
	require.Contains(t, line, `"last":100.25`)
	line = next()
	require.True(t, strings.HasPrefix(line, "quality"), line)
	require.Contains(t, line, `{"score":0.99}`)
	require.NoError(t, cmd.Wait(), "exits after -n messages")
}
