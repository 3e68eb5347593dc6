package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
)

// The scripts keep each check-and-change atomic across processes. Times are
// Unix milliseconds from the callers' clock: the processes share a machine,
// and so a clock.

// takeScript spends ARGV[1] units from the window counter KEYS[1] unless the
// exchange is frozen (KEYS[2]) or the window's budget ARGV[2] would be
// exceeded. Returns {granted, wait_ms, used, frozen_until_ms}.
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[3])
local frozen = tonumber(redis.call('GET', KEYS[2]) or '0')
if frozen > now then
  return {0, frozen - now, tonumber(redis.call('GET', KEYS[1]) or '0'), frozen}
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if used > 0 and used + cost > tonumber(ARGV[2]) then
  return {0, tonumber(ARGV[4]) - now, used, frozen}
end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0, used, frozen}
`)

// maxScript raises KEYS[1] to ARGV[1] if it is lower, with expiry ARGV[2] ms.
// Returns the resulting value.
var maxScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local v = tonumber(ARGV[1])
if v > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return v
end
return cur
`)

// shared is the Redis side of a Limiter. Its fields are guarded by the
// Limiter's mutex.
type shared struct {
	client  redis.Scripter
	prefix  string // {prefix}:{exchange}
	timeout time.Duration
	window  time.Duration
	clock   clockwork.Clock
	down    bool
	retryAt time.Time
}

type sharedResult struct {
	wait        time.Duration
	used        float64
	window      int64
	frozenUntil time.Time
}

func newShared(opts Options, clock clockwork.Clock) *shared {
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	timeout := opts.SharedTimeout
	if timeout <= 0 {
		timeout = DefaultSharedTimeout
	}
	return &shared{
		client:  opts.Shared,
		prefix:  prefix + ":" + opts.Exchange,
		timeout: timeout,
		window:  opts.Window,
		clock:   clock,
	}
}

func (s *shared) usedKey(window int64) string {
	return s.prefix + ":used:" + strconv.FormatInt(window, 10)
}

func (s *shared) frozenKey() string { return s.prefix + ":frozen_until" }

// usable reports whether Redis should be tried: not within the pause after
// an error.
func (s *shared) usable(now time.Time) bool {
	return !s.down || !now.Before(s.retryAt)
}

// fail records an error; it returns true on the first error of an outage,
// so that the caller logs once.
func (s *shared) fail(now time.Time) bool {
	first := !s.down
	s.down = true
	s.retryAt = now.Add(sharedRetryAfter)
	return first
}

// recover records a success; it returns true if Redis was down.
func (s *shared) recover() bool {
	was := s.down
	s.down = false
	return was
}

// ttl keeps a window's counter a little past the window's end.
func (s *shared) ttl(now, windowEnd time.Time) int64 {
	return max(windowEnd.Sub(now)+s.window, time.Millisecond).Milliseconds()
}

func (s *shared) take(window int64, cost int, limit float64, now, windowEnd time.Time) (sharedResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	vals, err := takeScript.Run(ctx, s.client,
		[]string{s.usedKey(window), s.frozenKey()},
		cost, strconv.FormatFloat(limit, 'f', -1, 64), now.UnixMilli(), windowEnd.UnixMilli(), s.ttl(now, windowEnd),
	).Int64Slice()
	if err != nil {
		return sharedResult{}, fmt.Errorf("taking shared budget: %w", err)
	}
	if len(vals) != 4 {
		return sharedResult{}, fmt.Errorf("taking shared budget: unexpected reply %v", vals)
	}
	res := sharedResult{used: float64(vals[2]), window: window}
	if vals[0] == 0 {
		// Wait at least a millisecond so a reply rounded to 0 still waits.
		res.wait = max(time.Duration(vals[1])*time.Millisecond, time.Millisecond)
	}
	if vals[3] > 0 {
		res.frozenUntil = time.UnixMilli(vals[3])
	}
	return res, nil
}

func (s *shared) observe(window int64, used float64, windowEnd time.Time) (sharedResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	v, err := maxScript.Run(ctx, s.client, []string{s.usedKey(window)},
		int64(used), s.ttl(s.clock.Now(), windowEnd)).Int64()
	if err != nil {
		return sharedResult{}, fmt.Errorf("observing shared budget: %w", err)
	}
	return sharedResult{used: float64(v), window: window}, nil
}

func (s *shared) freeze(until time.Time) (sharedResult, error) {
	now := s.clock.Now()
	if !until.After(now) {
		return sharedResult{}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	v, err := maxScript.Run(ctx, s.client, []string{s.frozenKey()},
		until.UnixMilli(), max(until.Sub(now), time.Millisecond).Milliseconds()).Int64()
	if err != nil {
		return sharedResult{}, fmt.Errorf("freezing shared budget: %w", err)
	}
	return sharedResult{frozenUntil: time.UnixMilli(v), window: -1}, nil
}
