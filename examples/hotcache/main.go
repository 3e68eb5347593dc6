// Command hotcache is an example reader of mdingest's Redis hot cache: it
// prints the cached value of one key, then every value the daemon publishes
// as it arrives.
//
//	go run ./examples/hotcache                                  # all kinds
//	go run ./examples/hotcache -kinds ticker,quality -get ticker:binance:BTC/USDT
//
// Keys are mdingest:{kind}:{exchange}:{symbol} (kind ticker, orderbook,
// ohlcv) holding JSON with the cache's TTLs; channels are mdingest:{kind}
// (also quality and error), carrying envelopes
// {"kind", "exchange", "symbol", "key", "value"}. README's "Redis hot cache"
// section describes both.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/redis/go-redis/v9"
)

// envelope is a published message.
type envelope struct {
	Kind     string          `json:"kind"`
	Exchange string          `json:"exchange"`
	Symbol   string          `json:"symbol"`
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hotcache:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hotcache", flag.ContinueOnError)
	url := fs.String("redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	prefix := fs.String("prefix", "mdingest", "key and channel prefix")
	kinds := fs.String("kinds", "ticker,orderbook,ohlcv,quality,error", "channels to follow")
	get := fs.String("get", "", "print this key first, e.g. ticker:binance:BTC/USDT")
	count := fs.Int("n", 0, "exit after this many messages (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := redis.ParseURL(*url)
	if err != nil {
		return fmt.Errorf("parsing -redis: %w", err)
	}
	client := redis.NewClient(opts)
	defer client.Close()

	if *get != "" {
		v, err := client.Get(ctx, *prefix+":"+*get).Result()
		switch {
		case errors.Is(err, redis.Nil):
			fmt.Fprintf(out, "%s: not cached (or expired)\n", *get)
		case err != nil:
			return fmt.Errorf("reading %s: %w", *get, err)
		default:
			fmt.Fprintf(out, "%s = %s\n", *get, v)
		}
	}

	var channels []string
	for k := range strings.SplitSeq(*kinds, ",") {
		channels = append(channels, *prefix+":"+strings.TrimSpace(k))
	}
	sub := client.Subscribe(ctx, channels...)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	fmt.Fprintf(out, "subscribed to %s\n", strings.Join(channels, ", "))
	msgs := sub.Channel()
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			var e envelope
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
				return fmt.Errorf("decoding a message on %s: %w", m.Channel, err)
			}
			fmt.Fprintf(out, "%-9s %-16s %-10s %s\n", e.Kind, e.Exchange, e.Symbol, e.Value)
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
