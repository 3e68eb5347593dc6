package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts keep each check-and-change atomic across processes. Times are
// Unix milliseconds from the callers' clock: the processes share a machine
// (an egress), and so a clock. Every request granted through Redis is a
// ticket in {p}:tickets ("cost:window:expiry") until its answer settles
// it; a process that dies leaves its tickets to expire.

// splitLua parses a ticket.
const splitLua = `
local function split(s)
  local c, w, e = string.match(s, '^([^:]+):([^:]+):([^:]+)$')
  return tonumber(c), tonumber(w), tonumber(e)
end
`

// fixedTakeScript: fixedLedger.est over {p}:w:{cur} (fields charged, hmax,
// reported, and u:{seq} = "cost:used" for uncertain reports), then a grant
// if the window has room for the cost within the cap.
//
//	KEYS: tickets, seq, window {p}:w:{cur}, frozen_until
//	ARGV: now, cur, cost, cap, ticket expiry, key ttl
//	returns {0, frozen_until} | {1, 0, est, settled} | {2, seq, est after, settled}
var fixedTakeScript = redis.NewScript(splitLua + `
local now = tonumber(ARGV[1])
local frozen = tonumber(redis.call('GET', KEYS[4]) or '0')
if frozen > now then return {0, frozen, 0, 0} end
local cur, cost = tonumber(ARGV[2]), tonumber(ARGV[3])
local inflight = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c, win, exp = split(all[i+1])
  if exp <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif win < cur then
    inflight = inflight + c
  end
end
local charged, hmax, reported, has = 0, 0, 0, false
local unc = {}
local w = redis.call('HGETALL', KEYS[3])
for i = 1, #w, 2 do
  local f, v = w[i], w[i+1]
  if f == 'charged' then charged = tonumber(v)
  elseif f == 'hmax' then hmax = tonumber(v); has = true
  elseif f == 'reported' then reported = tonumber(v)
  elseif string.sub(f, 1, 2) == 'u:' then table.insert(unc, v) end
end
local est = charged + inflight
if has then
  est = est + hmax - reported
  for _, v in ipairs(unc) do
    local c, h = string.match(v, '^([^:]+):([^:]+)$')
    if tonumber(h) <= hmax then est = est - tonumber(c) end
  end
end
local settled = est - inflight
if est > 0 and est + cost > tonumber(ARGV[4]) then
  return {1, 0, est, settled}
end
local seq = redis.call('INCR', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'charged', cost)
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('HSET', KEYS[1], seq, ARGV[3] .. ':' .. ARGV[2] .. ':' .. ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {2, seq, est + cost, settled}
`)

// fixedFinishScript: fixedLedger.finish.
//
//	KEYS: tickets, window {p}:w:{sw}
//	ARGV: seq, cur, sw, certain (0/1), has used (0/1), used, key ttl
var fixedFinishScript = redis.NewScript(splitLua + `
local t = redis.call('HGET', KEYS[1], ARGV[1])
if not t then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local c, win = split(t)
local cur, sw = tonumber(ARGV[2]), tonumber(ARGV[3])
if sw < cur or sw < win then return 1 end
if sw > win then redis.call('HINCRBY', KEYS[2], 'charged', c) end
if ARGV[5] == '1' then
  if ARGV[4] == '1' then
    local h = tonumber(ARGV[6])
    if h > tonumber(redis.call('HGET', KEYS[2], 'hmax') or '-1') then
      redis.call('HSET', KEYS[2], 'hmax', ARGV[6])
    end
    redis.call('HINCRBY', KEYS[2], 'reported', c)
  else
    redis.call('HSET', KEYS[2], 'u:' .. ARGV[1], c .. ':' .. ARGV[6])
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 1
`)

// slidingTakeScript: slidingLog shared. {p}:log holds answered requests
// ("seq:cost", scored by when they leave the window), {p}:logsum their
// total.
//
//	KEYS: tickets, seq, log, logsum, frozen_until
//	ARGV: now, cost, hard cap, soft cap, later (now + release), ticket
//	      expiry, key ttl, release (ms)
//	returns {0, frozen_until} | {1, wait ms or -1, reserve only, est} | {2, seq, 0, est after}
var slidingTakeScript = redis.NewScript(splitLua + `
local now = tonumber(ARGV[1])
local frozen = tonumber(redis.call('GET', KEYS[5]) or '0')
if frozen > now then return {0, frozen, 0, 0} end
local function costOf(m) return tonumber(string.match(m, ':([^:]+)$')) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #gone > 0 then
  local sub = 0
  for _, m in ipairs(gone) do sub = sub + costOf(m) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('DECRBY', KEYS[4], sub)
end
local sum = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'), 0)
local inflight = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c, _, exp = split(all[i+1])
  if exp <= now then redis.call('HDEL', KEYS[1], all[i]) else inflight = inflight + c end
end
local cost, hard, soft, later = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local est = sum + inflight
local estLater = est
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, later)) do estLater = estLater - costOf(m) end
local hardOK, softOK = est + cost <= hard, estLater + cost <= soft
if est <= 0 or (hardOK and softOK) then
  local seq = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], seq, ARGV[2] .. ':0:' .. ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  return {2, seq, 0, est + cost}
end
-- the earliest time from 'from' at which the log has shed 'need' units
local function shed(from, need)
  local off = 0
  while true do
    local page = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. from, '+inf', 'WITHSCORES', 'LIMIT', off, 100)
    if #page == 0 then return -1 end
    for i = 1, #page, 2 do
      need = need - costOf(page[i])
      if need <= 0 then return tonumber(page[i+1]) end
    end
    off = off + 100
  end
end
local at = now
if not hardOK then
  at = shed(now, est + cost - hard)
  if at < 0 then return {1, -1, 0, est} end
end
if not softOK then
  local t = shed(later, estLater + cost - soft)
  if t < 0 then return {1, -1, hardOK and 1 or 0, est} end
  at = math.max(at, t - tonumber(ARGV[8]))
end
local ro = 0
if hardOK then ro = 1 end
return {1, math.max(at - now, 1), ro, est}
`)

// slidingFinishScript moves an answered ticket into the log.
//
//	KEYS: tickets, log, logsum
//	ARGV: seq, leaves the window at (ms), key ttl
var slidingFinishScript = redis.NewScript(splitLua + `
local t = redis.call('HGET', KEYS[1], ARGV[1])
if not t then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local c = split(t)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1] .. ':' .. c)
redis.call('INCRBY', KEYS[3], c)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
`)

// bucketTakeScript: tokenBucket shared; {p}:bucket holds the tokens left
// after the answered requests, at a time.
//
//	KEYS: tickets, seq, bucket, frozen_until
//	ARGV: now, cost, rate (per ms), burst, ticket expiry, key ttl
//	returns {0, frozen_until} | {1, wait ms or -1} | {2, seq}
var bucketTakeScript = redis.NewScript(splitLua + `
local now = tonumber(ARGV[1])
local frozen = tonumber(redis.call('GET', KEYS[4]) or '0')
if frozen > now then return {0, frozen} end
local cost, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[3], 'tokens', 'at')
local tokens, at = tonumber(b[1] or burst), tonumber(b[2] or now)
if now > at then tokens = math.min(burst, tokens + rate * (now - at)) end
local held = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c, _, exp = split(all[i+1])
  if exp <= now then redis.call('HDEL', KEYS[1], all[i]) else held = held + c end
end
local want = math.min(cost, burst)
if tokens - held >= want - 1e-9 then
  local seq = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], seq, ARGV[2] .. ':0:' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {2, seq}
end
if held > burst - want then return {1, -1} end
return {1, math.max(math.ceil((want - tokens + held) / rate), 1)}
`)

// bucketFinishScript takes an answered ticket's tokens.
//
//	KEYS: tickets, bucket
//	ARGV: seq, now, rate (per ms), burst, key ttl
var bucketFinishScript = redis.NewScript(splitLua + `
local t = redis.call('HGET', KEYS[1], ARGV[1])
if not t then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local c = split(t)
local now, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[2], 'tokens', 'at')
local tokens, at = tonumber(b[1] or burst), tonumber(b[2] or now)
if now > at then tokens = math.min(burst, tokens + rate * (now - at)); at = now end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - c), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
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

// ticketTTL is how long a ticket of a process that died keeps counting.
const ticketTTL = 2 * time.Minute

// shared is the Redis side of a Limiter. Its fields are guarded by the
// Limiter's mutex.
type shared struct {
	client  redis.Scripter
	prefix  string // {prefix}:{egress}:{exchange}
	timeout time.Duration
	keyTTL  time.Duration
	down    bool
	retryAt time.Time
}

// sharedTake is what a take script answered.
type sharedTake struct {
	seq         int64 // granted: the ticket; 0: refused
	frozen      time.Time
	est         float64 // units counted (after the grant, when granted)
	settled     float64 // Fixed: est less requests in flight
	wait        time.Duration
	reserveOnly bool
}

func newShared(opts Options) *shared {
	prefix := cmpOr(opts.KeyPrefix, DefaultKeyPrefix)
	if opts.Egress != "" {
		prefix += ":" + opts.Egress
	}
	return &shared{
		client:  opts.Shared,
		prefix:  prefix + ":" + opts.Exchange,
		timeout: cmpOr(opts.SharedTimeout, DefaultSharedTimeout),
		// Keys outlive what they describe a little: windows and logs by a
		// window, tickets by their expiry.
		keyTTL: max(3*opts.Window, ticketTTL),
	}
}

func (s *shared) key(name string) string { return s.prefix + ":" + name }

func (s *shared) windowKey(idx int64) string { return s.key("w:" + strconv.FormatInt(idx, 10)) }

// usable reports whether Redis should be tried: not within the pause after
// an error.
func (s *shared) usable(now time.Time) bool {
	return s != nil && (!s.down || !now.Before(s.retryAt))
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

// take runs a take script, whose reply is n integers.
func (s *shared) take(script *redis.Script, n int, keys []string, args ...any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	vals, err := script.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("taking shared budget: %w", err)
	}
	if len(vals) != n {
		return nil, fmt.Errorf("taking shared budget: unexpected reply %v", vals)
	}
	return vals, nil
}

// settle runs a finish script.
func (s *shared) settle(script *redis.Script, keys []string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := script.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("settling shared budget: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (s *shared) takeFixed(now time.Time, cur int64, cost int, capacity float64) (sharedTake, error) {
	vals, err := s.take(fixedTakeScript, 4,
		[]string{s.key("tickets"), s.key("seq"), s.windowKey(cur), s.key("frozen_until")},
		ms(now), cur, cost, fmtFloat(capacity), ms(now.Add(ticketTTL)), s.keyTTL.Milliseconds())
	if err != nil {
		return sharedTake{}, err
	}
	switch vals[0] {
	case 0:
		return sharedTake{frozen: time.UnixMilli(vals[1])}, nil
	case 1:
		return sharedTake{est: float64(vals[2]), settled: float64(vals[3])}, nil
	}
	return sharedTake{seq: vals[1], est: float64(vals[2]), settled: float64(vals[3])}, nil
}

func (s *shared) finishFixed(now time.Time, seq, cur, sw int64, certain bool, r Report) error {
	used := "0"
	if r.HasUsed && !math.IsNaN(r.Used) && !math.IsInf(r.Used, 0) {
		used = fmtFloat(math.Round(r.Used))
	}
	return s.settle(fixedFinishScript,
		[]string{s.key("tickets"), s.windowKey(sw)},
		seq, cur, sw, flag(certain), flag(r.HasUsed), used, s.keyTTL.Milliseconds())
}

func (s *shared) takeSliding(now time.Time, cost int, hard, soft float64, release time.Duration) (sharedTake, error) {
	vals, err := s.take(slidingTakeScript, 4,
		[]string{s.key("tickets"), s.key("seq"), s.key("log"), s.key("logsum"), s.key("frozen_until")},
		ms(now), cost, fmtFloat(hard), fmtFloat(soft), ms(now.Add(release)), ms(now.Add(ticketTTL)),
		s.keyTTL.Milliseconds(), release.Milliseconds())
	if err != nil {
		return sharedTake{}, err
	}
	switch vals[0] {
	case 0:
		return sharedTake{frozen: time.UnixMilli(vals[1])}, nil
	case 1:
		return sharedTake{wait: sharedWait(vals[1]), reserveOnly: vals[2] == 1, est: float64(vals[3])}, nil
	}
	return sharedTake{seq: vals[1], est: float64(vals[3])}, nil
}

func (s *shared) finishSliding(now time.Time, seq int64, window time.Duration) error {
	return s.settle(slidingFinishScript,
		[]string{s.key("tickets"), s.key("log"), s.key("logsum")},
		seq, ms(now.Add(window)), s.keyTTL.Milliseconds())
}

func (s *shared) takeBucket(now time.Time, cost int, perSecond, burst float64) (sharedTake, error) {
	vals, err := s.take(bucketTakeScript, 2,
		[]string{s.key("tickets"), s.key("seq"), s.key("bucket"), s.key("frozen_until")},
		ms(now), cost, fmtFloat(perSecond/1000), fmtFloat(burst), ms(now.Add(ticketTTL)), s.keyTTL.Milliseconds())
	if err != nil {
		return sharedTake{}, err
	}
	switch vals[0] {
	case 0:
		return sharedTake{frozen: time.UnixMilli(vals[1])}, nil
	case 1:
		return sharedTake{wait: sharedWait(vals[1])}, nil
	}
	return sharedTake{seq: vals[1]}, nil
}

func (s *shared) finishBucket(now time.Time, seq int64, perSecond, burst float64) error {
	return s.settle(bucketFinishScript,
		[]string{s.key("tickets"), s.key("bucket")},
		seq, ms(now), fmtFloat(perSecond/1000), fmtFloat(burst), s.keyTTL.Milliseconds())
}

// freeze raises the shared freeze to until and returns the freeze in
// force.
func (s *shared) freeze(now, until time.Time) (time.Time, error) {
	if !until.After(now) {
		return time.Time{}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	v, err := maxScript.Run(ctx, s.client, []string{s.key("frozen_until")},
		until.UnixMilli(), max(until.Sub(now), time.Millisecond).Milliseconds()).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("freezing shared budget: %w", err)
	}
	return time.UnixMilli(v), nil
}

// sharedWait turns a script's wait (ms; -1: until an answer) into a
// duration; -1 stays negative for the caller to poll.
func sharedWait(v int64) time.Duration {
	if v < 0 {
		return -1
	}
	return max(time.Duration(v)*time.Millisecond, time.Millisecond)
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
