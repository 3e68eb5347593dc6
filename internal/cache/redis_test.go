package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
)

// sharedRedisURL is the Redis the suite runs against; it must be up.
func sharedRedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testRedis connects to the shared Redis and returns a client and a key
// prefix of the test's own, whose keys are deleted at the end.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	client, err := NewRedisClient(sharedRedisURL())
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, client.Ping(ctx).Err(), "Redis at %s is unreachable: start it or set REDIS_URL", sharedRedisURL())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "mdingest-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		keys, err := client.Keys(ctx, prefix+":*").Result()
		if err == nil && len(keys) > 0 {
			err = client.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleaning up %s: %v", prefix, err)
		}
		_ = client.Close()
	})
	return client, prefix
}

func newRedisCache(t *testing.T) (*Cache, *redis.Client) {
	t.Helper()
	client, prefix := testRedis(t)
	c, err := New(NewRedis(client), DefaultConfig(), Options{Prefix: prefix, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	return c, client
}

func TestRedisRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, client := newRedisCache(t)
	require.Equal(t, "redis", c.Backend())
	cfg := DefaultConfig()

	tk := ticker("binance", "BTC/USDT", "100.00")
	require.NoError(t, c.SetTicker(ctx, tk))
	got, ok, err := c.GetTicker(ctx, "binance", "BTC/USDT")
	require.NoError(t, err)
	require.True(t, ok)
	tk.Time = tk.Time.Truncate(time.Millisecond)
	require.Equal(t, tk, got)
	key := c.Key(market.TypeTicker, "binance", "BTC/USDT")
	ttl, err := client.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.True(t, ttl > 0 && ttl <= cfg.Ticker, "PTTL %s", ttl)

	b := book("kraken", "BTC/USD")
	require.NoError(t, c.SetOrderBook(ctx, b))
	gotB, ok, err := c.GetOrderBook(ctx, "kraken", "BTC/USD")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, b, gotB)
	ttl, _ = client.PTTL(ctx, c.Key(market.TypeOrderBook, "kraken", "BTC/USD")).Result()
	require.True(t, ttl > 0 && ttl <= cfg.OrderBook, "PTTL %s", ttl)

	now := time.Now().UTC().Truncate(time.Minute)
	k1m := candle("binance", "ETH/BTC", market.TF1m, now, "0.05")
	k1h := candle("binance", "ETH/BTC", market.TF1h, now.Truncate(time.Hour), "0.049")
	require.NoError(t, c.SetCandles(ctx, []market.Candle{k1m, k1h}))
	gotK, ok, err := c.GetCandle(ctx, "binance", "ETH/BTC", market.TF1h)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, k1h, gotK)
	ttl, _ = client.PTTL(ctx, c.Key(market.TypeOHLCV, "binance", "ETH/BTC")).Result()
	require.True(t, ttl > cfg.OHLCV[market.TF1m] && ttl <= cfg.OHLCV[market.TF1h], "the key lives as long as its longest entry: PTTL %s", ttl)

	_, ok, err = c.GetTicker(ctx, "binance", "XRP/USDT")
	require.NoError(t, err)
	require.False(t, ok)
}

// countHook records what goes to Redis.
type countHook struct {
	mu        sync.Mutex
	commands  []string // single commands, by name
	pipelines [][]string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.commands = append(h.commands, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.pipelines = append(h.pipelines, names)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func TestRedisSetTickersOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, client := newRedisCache(t)
	hook := &countHook{}
	client.AddHook(hook)

	batch := make([]market.Ticker, 50)
	for i := range batch {
		batch[i] = ticker("binance", market.Symbol(fmt.Sprintf("C%d/USDT", i)), strconv.Itoa(i+1))
	}
	require.NoError(t, c.SetTickers(ctx, batch))
	require.NotContains(t, hook.commands, "set", "no SET outside the pipeline")
	sets := 0
	for _, p := range hook.pipelines {
		if slices.Contains(p, "set") {
			// go-redis may pass one pipeline through the hook at two layers.
			require.Len(t, p, 100, "all SETs and their PUBLISHes in one pipeline: %v", p)
			require.Equal(t, 50, countOf(p, "set"))
			require.Equal(t, 50, countOf(p, "publish"))
			sets++
		}
	}
	require.NotZero(t, sets)

	for _, tk := range batch {
		got, ok, err := c.GetTicker(ctx, "binance", tk.Symbol)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, tk.Last, got.Last)
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestRedisPublishes checks every cached value, and every quality or error
// event, reaches a subscriber of its kind's channel as an envelope naming
// what it is.
func TestRedisPublishes(t *testing.T) {
	ctx := context.Background()
	c, client := newRedisCache(t)
	sub := client.Subscribe(ctx, c.Channel("ticker"), c.Channel("orderbook"), c.Channel("ohlcv"), c.Channel(KindQuality), c.Channel(KindError))
	defer sub.Close()
	_, err := sub.Receive(ctx) // the subscription is active before anything is published
	require.NoError(t, err)
	msgs := sub.Channel()
	next := func() (string, map[string]any) {
		t.Helper()
		select {
		case m := <-msgs:
			var v map[string]any
			require.NoError(t, json.Unmarshal([]byte(m.Payload), &v), m.Payload)
			return m.Channel, v
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
			return "", nil
		}
	}

	require.NoError(t, c.SetTickers(ctx, []market.Ticker{ticker("binance", "BTC/USDT", "100.5")}))
	ch, v := next()
	require.Equal(t, c.Channel("ticker"), ch)
	require.Equal(t, "ticker", v["kind"])
	require.Equal(t, "binance", v["exchange"])
	require.Equal(t, "BTC/USDT", v["symbol"])
	require.Equal(t, c.Key(market.TypeTicker, "binance", "BTC/USDT"), v["key"])
	cached, err := client.Get(ctx, c.Key(market.TypeTicker, "binance", "BTC/USDT")).Result()
	require.NoError(t, err)
	value, err := json.Marshal(v["value"])
	require.NoError(t, err)
	require.JSONEq(t, cached, string(value), "the message carries the cached value")

	require.NoError(t, c.SetOrderBooks(ctx, []market.OrderBook{book("kraken", "ETH/USDT")}))
	ch, v = next()
	require.Equal(t, c.Channel("orderbook"), ch)
	require.Equal(t, "kraken", v["exchange"])
	require.Contains(t, v["value"], "bids")

	k := candle("okx", "BTC/USDT", market.TF1m, t0, "42.5")
	k.Closed = true
	require.NoError(t, c.SetCandles(ctx, []market.Candle{k}))
	ch, v = next()
	require.Equal(t, c.Channel("ohlcv"), ch)
	val := v["value"].(map[string]any)
	require.Equal(t, "1m", val["timeframe"])
	require.Equal(t, true, val["closed"])
	require.Equal(t, []any{float64(t0.UnixMilli()), 100.0, 101.5, 99.0, 42.5, 12.0}, val["ohlcv"])

	require.NoError(t, c.Notify(ctx, KindQuality, "binance", "BTC/USDT", map[string]any{"score": 0.97, "passed": true}))
	ch, v = next()
	require.Equal(t, c.Channel(KindQuality), ch)
	require.Equal(t, 0.97, v["value"].(map[string]any)["score"])

	require.NoError(t, c.Notify(ctx, KindError, "kraken", "", map[string]any{"error": "fetching ticker: 503"}))
	ch, v = next()
	require.Equal(t, c.Channel(KindError), ch)
	require.NotContains(t, v, "symbol", "no symbol: omitted")

	for kind, n := range map[string]float64{"ticker": 1, "orderbook": 1, "ohlcv": 1, KindQuality: 1, KindError: 1} {
		require.Equal(t, n, testutil.ToFloat64(c.m.published.WithLabelValues(kind)), kind)
	}
}

// TestMemoryPublishesNothing checks the in-process cache neither fails nor
// counts values as published: nobody can subscribe to it.
func TestMemoryPublishesNothing(t *testing.T) {
	ctx := context.Background()
	c, _, _ := newMemoryCache(t)
	require.NoError(t, c.SetTickers(ctx, []market.Ticker{ticker("binance", "BTC/USDT", "1")}))
	require.NoError(t, c.Notify(ctx, KindQuality, "binance", "BTC/USDT", map[string]any{"score": 1}))
	require.Zero(t, testutil.ToFloat64(c.m.published.WithLabelValues("ticker")))
	require.Zero(t, testutil.ToFloat64(c.m.published.WithLabelValues(KindQuality)))
	require.Zero(t, testutil.ToFloat64(c.m.errors.WithLabelValues("publish")))
}

func TestRedisConcurrentCandles(t *testing.T) {
	c, _ := newRedisCache(t)
	testConcurrentCandles(t, c)
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", ctx, nil, false},
		{"miss", ctx, redis.Nil, false},
		{"refused", ctx, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"timeout", ctx, fmt.Errorf("reading: %w", os.ErrDeadlineExceeded), true},
		{"closed client", ctx, redis.ErrClosed, true},
		{"server reply", ctx, fmt.Errorf("wrapped: %w", redisReply("WRONGTYPE Operation against a key holding the wrong kind of value")), false},
		{"loading", ctx, redisReply("LOADING Redis is loading the dataset in memory"), true},
		{"caller gave up", canceled, context.Canceled, false},
		{"update func", ctx, updateError{errors.New("boom")}, false},
		{"contention", ctx, ErrContention, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, unavailable(tt.ctx, tt.err))
		})
	}
}

// redisReply is an error as Redis servers reply them.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

// redisServer is a private redis-server the test may kill and restart.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &redisServer{t: t, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	require.NoError(s.t, s.cmd.Start(), "redis-server must be installed for the fallback test")
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port), MaxRetries: -1, DialerRetries: 1})
	defer client.Close()
	// Wait for it to accept connections (startup, not a timing assertion).
	for i := 0; client.Ping(context.Background()).Err() != nil; i++ {
		require.Less(s.t, i, 500, "redis-server on port %d did not come up", s.port)
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func TestFallback(t *testing.T) {
	ctx := context.Background()
	srv := startRedisServer(t)
	client, err := NewRedisClient(srv.url())
	require.NoError(t, err)
	defer client.Close()
	reg := prometheus.NewRegistry()
	fb, err := NewFallback(NewRedis(client), NewMemory(MemoryOptions{}), FallbackOptions{Registerer: reg})
	require.NoError(t, err)
	c, err := New(fb, DefaultConfig(), Options{Registerer: reg})
	require.NoError(t, err)
	key := c.Key(market.TypeTicker, "binance", "BTC/USDT")

	// Up: values land in Redis.
	require.NoError(t, c.SetTicker(ctx, ticker("binance", "BTC/USDT", "1")))
	require.Equal(t, "redis", c.Backend())
	require.NoError(t, client.Get(ctx, key).Err())

	// Down: the next write fails over to memory, without an error.
	srv.stop()
	require.NoError(t, c.SetTicker(ctx, ticker("binance", "BTC/USDT", "2")))
	require.Equal(t, "memory", c.Backend())
	got, ok, err := c.GetTicker(ctx, "binance", "BTC/USDT")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, dec("2"), got.Last)
	require.NoError(t, c.SetCandle(ctx, candle("binance", "BTC/USDT", market.TF1m, t0, "3")))
	gotK, ok, err := c.GetCandle(ctx, "binance", "BTC/USDT", market.TF1m)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, dec("3"), gotK.Close)
	require.Equal(t, "memory", fb.Probe(ctx), "still down")
	require.Equal(t, 1.0, testutil.ToFloat64(fb.switches.WithLabelValues("memory")))
	require.Equal(t, 1.0, testutil.ToFloat64(fb.active))
	require.Zero(t, testutil.ToFloat64(c.m.errors.WithLabelValues("set")), "a failover is not an error")

	// Back: a probe moves to Redis, and writes land there again.
	srv.start()
	require.Equal(t, "redis", fb.Probe(ctx))
	require.Equal(t, "redis", c.Backend())
	require.Equal(t, 1.0, testutil.ToFloat64(fb.switches.WithLabelValues("redis")))
	require.Zero(t, testutil.ToFloat64(fb.active))
	_, ok, err = c.GetTicker(ctx, "binance", "BTC/USDT")
	require.NoError(t, err)
	require.False(t, ok, "the restarted Redis is empty; memory values are not served")
	require.NoError(t, c.SetTicker(ctx, ticker("binance", "BTC/USDT", "4")))
	raw, err := client.Get(ctx, key).Bytes()
	require.NoError(t, err)
	require.Contains(t, string(raw), `"last":4`)
}

func TestFallbackRunProbes(t *testing.T) {
	ctx := context.Background()
	srv := startRedisServer(t)
	client, err := NewRedisClient(srv.url())
	require.NoError(t, err)
	defer client.Close()
	fb, err := NewFallback(NewRedis(client), NewMemory(MemoryOptions{}), FallbackOptions{ProbeInterval: 10 * time.Millisecond})
	require.NoError(t, err)

	srv.stop()
	_, _, err = fb.Get(ctx, "mdingest:ticker:x:A/B")
	require.NoError(t, err)
	require.Equal(t, "memory", fb.Name())
	srv.start()

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- fb.Run(runCtx) }()
	// Run, not the test, brings it back; wait for that (liveness, not speed).
	for i := 0; fb.Name() != "redis"; i++ {
		require.Less(t, i, 1000, "Run did not move back to redis")
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
}

func TestFallbackPassesOtherErrors(t *testing.T) {
	ctx := context.Background()
	client, prefix := testRedis(t)
	fb, err := NewFallback(NewRedis(client), NewMemory(MemoryOptions{}), FallbackOptions{})
	require.NoError(t, err)
	key := prefix + ":list"
	require.NoError(t, client.RPush(ctx, key, "x").Err())
	_, _, err = fb.Get(ctx, key)
	require.Error(t, err, "WRONGTYPE is Redis answering: no failover")
	require.Equal(t, "redis", fb.Name())

	boom := errors.New("boom")
	err = fb.Update(ctx, prefix+":k", func([]byte, bool) ([]byte, time.Duration, error) { return nil, 0, boom })
	require.ErrorIs(t, err, boom)
	require.Equal(t, "redis", fb.Name())
}
