package ratelimit

import (
	"math"
	"time"
)

// tokenBucket models an exchange's token bucket from our side. The server
// takes a request's tokens when the request reaches it, some time between
// our grant and its answer; the bucket here takes them at the answer (and
// holds them aside while the request is in flight), the latest the server
// can have taken them. Network jitter therefore never makes two requests
// look further apart to us than they were to the server.
//
// The Redis scripts bucketTakeScript and bucketFinishScript keep the same
// bucket for several processes.
type tokenBucket struct {
	rate     float64 // units per second
	burst    float64
	tokens   float64 // at time at, after the answered requests
	at       time.Time
	inflight map[uint64]float64
	held     float64 // sum of inflight
}

func newTokenBucket(rate, burst float64, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, at: now, inflight: map[uint64]float64{}}
}

// setRate changes the refill and capacity (a share of the budget), keeping
// what is spent.
func (b *tokenBucket) setRate(rate, burst float64, now time.Time) {
	b.settle(now)
	b.rate, b.burst = rate, burst
	b.tokens = min(b.tokens, burst)
}

func (b *tokenBucket) settle(now time.Time) {
	if now.After(b.at) {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.at).Seconds())
		b.at = now
	}
}

// level is the tokens available at now, after those held for requests in
// flight.
func (b *tokenBucket) level(now time.Time) float64 {
	t := b.tokens
	if now.After(b.at) {
		t = min(b.burst, t+b.rate*now.Sub(b.at).Seconds())
	}
	return t - b.held
}

// wait returns how long until cost units may be taken. A request costing
// more than the whole bucket may go when the bucket is full.
func (b *tokenBucket) wait(now time.Time, cost float64) time.Duration {
	need := min(cost, b.burst) - b.level(now)
	if need <= 1e-9 {
		return 0
	}
	if b.held > b.burst-min(cost, b.burst) {
		// Only an answer can make room; the refill alone never will.
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(need / b.rate * float64(time.Second)))
}

func (b *tokenBucket) grant(seq uint64, cost float64) {
	b.inflight[seq] = cost
	b.held += cost
}

func (b *tokenBucket) finish(seq uint64, now time.Time) {
	c, ok := b.inflight[seq]
	if !ok {
		return
	}
	delete(b.inflight, seq)
	b.held -= c
	if len(b.inflight) == 0 {
		b.held = 0
	}
	b.settle(now)
	b.tokens -= c
}
