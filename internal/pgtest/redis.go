package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

const defaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL is $MDINGEST_TEST_REDIS_URL, else the local default.
func RedisURL() string {
	if u := os.Getenv(EnvRedisURL); u != "" {
		return u
	}
	return defaultRedisURL
}

// RequireRedis pings the Redis of RedisURL and fails the test if it does not
// answer. It returns the URL. Tests sharing one Redis should keep their keys
// apart (a prefix with t.Name()), as packages run in parallel.
func RequireRedis(t testing.TB) string {
	t.Helper()
	u := RedisURL()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("pgtest: parsing %s %q: %v", EnvRedisURL, redact(u), err)
	}
	client := redis.NewClient(opts)
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("pgtest: Redis is unreachable at %s (set %s or start redis-server): %v", redact(u), EnvRedisURL, err)
	}
	return u
}
