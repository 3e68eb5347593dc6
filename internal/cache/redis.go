package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxTxAttempts bounds the optimistic retries of Update under contention.
const maxTxAttempts = 50

// NewRedisClient parses a redis:// URL into a client tuned for a cache that
// can fall back: short timeouts and no retries, so an unreachable Redis
// shows within about a second instead of stalling the pipeline. It does
// not connect.
func NewRedisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing redis URL: %w", err)
	}
	opts.DialTimeout = 500 * time.Millisecond
	opts.DialerRetries = 1
	opts.ReadTimeout = 500 * time.Millisecond
	opts.WriteTimeout = 500 * time.Millisecond
	opts.PoolTimeout = time.Second
	opts.MaxRetries = -1
	return redis.NewClient(opts), nil
}

// Redis stores values in Redis with SET ... PX.
type Redis struct {
	client redis.UniversalClient
}

// NewRedis returns a backend over client; the caller closes the client.
func NewRedis(client redis.UniversalClient) *Redis { return &Redis{client: client} }

// Name is "redis".
func (r *Redis) Name() string { return "redis" }

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// Set writes all entries in one pipelined round trip.
func (r *Redis) Set(ctx context.Context, entries []Entry) error {
	for _, e := range entries {
		if e.TTL <= 0 {
			return fmt.Errorf("%w: %s", ErrNoTTL, e.Key)
		}
	}
	if len(entries) == 1 && entries[0].Publish.Channel == "" {
		e := entries[0]
		return r.client.Set(ctx, e.Key, e.Value, e.TTL).Err()
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			p.Set(ctx, e.Key, e.Value, e.TTL)
			if e.Publish.Channel != "" {
				p.Publish(ctx, e.Publish.Channel, e.Publish.Payload)
			}
		}
		return nil
	})
	return err
}

// Publish sends the messages in one pipelined round trip.
func (r *Redis) Publish(ctx context.Context, msgs []Message) error {
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.Publish(ctx, m.Channel, m.Payload)
		}
		return nil
	})
	return err
}

// Get reads a key; a missing key is (nil, false, nil).
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Update reads, computes and writes key in a WATCH/MULTI transaction,
// retrying when another writer changed the key in between.
func (r *Redis) Update(ctx context.Context, key string, fn UpdateFunc) error {
	tx := func(tx *redis.Tx) error {
		old, err := tx.Get(ctx, key).Bytes()
		found := err == nil
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		v, ttl, err := fn(old, found)
		if err != nil {
			return updateError{err}
		}
		if ttl <= 0 {
			return fmt.Errorf("%w: %s", ErrNoTTL, key)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, v, ttl)
			return nil
		})
		return err
	}
	for attempt := range maxTxAttempts {
		err := r.client.Watch(ctx, tx, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		// Jittered pause so that competing writers stop colliding.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("updating %s: %w", key, ErrContention)
}

// unavailable reports whether err means Redis cannot serve now (down,
// unreachable, timing out, loading, out of memory), as opposed to a miss, a
// bad request, or the caller giving up.
func unavailable(ctx context.Context, err error) bool {
	switch {
	case err == nil, errors.Is(err, redis.Nil), ctx.Err() != nil,
		errors.Is(err, ErrNoTTL), errors.Is(err, ErrContention), errors.As(err, new(updateError)):
		return false
	case redis.IsLoadingError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err),
		redis.IsMasterDownError(err), redis.IsMaxClientsError(err), redis.IsOOMError(err),
		redis.IsReadOnlyError(err):
		return true
	}
	var reply redis.Error
	// Any other reply came from a server that is up; everything else is the
	// network: refused, reset, timed out, pool exhausted, closed.
	return !errors.As(err, &reply)
}

// updateError marks an error of an UpdateFunc, which says nothing about Redis.
type updateError struct{ err error }

func (e updateError) Error() string { return e.err.Error() }
func (e updateError) Unwrap() error { return e.err }
