package ratelimit

import "time"

// driftAllowance widens the estimate of the server's clock between
// samples (100 ppm), so that two clocks drifting apart do not make the
// samples contradict each other.
const driftAllowance = 100e-6

// serverClock bounds the offset of the exchange's clock from ours. A Date
// header says the server's clock read [date, date+1s) at some instant
// between sending the request and receiving the answer, so the offset lies
// in (date - received, date + 1s - sent). Intersecting these intervals over
// many answers narrows it to about one round trip, as NTP's filter does.
// Before any answer the offset is taken as zero.
type serverClock struct {
	known  bool
	lo, hi time.Duration // server time - local time lies within [lo, hi]
	at     time.Time     // local time of the last sample
}

// observe narrows the estimate with one answer. It returns true when the
// estimate started afresh (the first answer, or a clock was stepped).
func (c *serverClock) observe(date, sent, received time.Time) bool {
	lo, hi := date.Sub(received), date.Add(time.Second).Sub(sent)
	if lo > hi {
		return false // answered before it was sent: a clock jumped under us
	}
	if c.known {
		grow := time.Duration(float64(received.Sub(c.at)) * driftAllowance)
		if grow > 0 {
			c.lo, c.hi = c.lo-grow, c.hi+grow
		}
	}
	fresh := !c.known || lo > c.hi || hi < c.lo
	if fresh {
		// No overlap: a clock was stepped. Start again from this sample.
		c.lo, c.hi = lo, hi
	} else {
		c.lo, c.hi = max(c.lo, lo), min(c.hi, hi)
	}
	c.known, c.at = true, received
	return fresh
}

// earliest is the earliest the server's clock can read at local time t.
func (c *serverClock) earliest(t time.Time) time.Time { return t.Add(c.lo) }

// latest is the latest the server's clock can read at local time t.
func (c *serverClock) latest(t time.Time) time.Time { return t.Add(c.hi) }
