package ratelimit

import (
	"slices"
	"time"
)

// slidingLog counts a rolling window. A request counts from its grant
// until Window after its answer arrived: the server counted it at some
// instant before answering, so it has left the server's window by then
// whatever the network delays were. Requests in flight count until they
// are answered.
//
// The Redis scripts slidingTakeScript and slidingFinishScript keep the
// same log for several processes.
type slidingLog struct {
	window   time.Duration
	inflight map[uint64]float64
	done     []slidingEntry // ordered by expiry
	doneSum  float64
}

type slidingEntry struct {
	expiry time.Time
	cost   float64
}

func newSlidingLog(window time.Duration) *slidingLog {
	return &slidingLog{window: window, inflight: map[uint64]float64{}}
}

func (s *slidingLog) prune(now time.Time) {
	i := 0
	for i < len(s.done) && !s.done[i].expiry.After(now) {
		s.doneSum -= s.done[i].cost
		i++
	}
	if i > 0 {
		s.done = slices.Delete(s.done, 0, i)
	}
	if len(s.done) == 0 {
		s.doneSum = 0 // no float residue
	}
}

// at returns the units that will still count at t (>= the last prune).
func (s *slidingLog) at(t time.Time) float64 {
	sum := s.doneSum
	for _, e := range s.done {
		if e.expiry.After(t) {
			break
		}
		sum -= e.cost
	}
	for _, c := range s.inflight {
		sum += c
	}
	return max(sum, 0)
}

// until returns the earliest time >= now at which at most target units
// count, and false if requests in flight alone exceed it (an answer must
// come first).
func (s *slidingLog) until(now time.Time, target float64) (time.Time, bool) {
	excess := s.at(now) - target
	if excess <= 0 {
		return now, true
	}
	for _, e := range s.done {
		if !e.expiry.After(now) {
			continue
		}
		excess -= e.cost
		if excess <= 1e-9 {
			return e.expiry, true
		}
	}
	return time.Time{}, false
}

func (s *slidingLog) grant(seq uint64, cost float64) { s.inflight[seq] = cost }

func (s *slidingLog) finish(seq uint64, now time.Time) {
	c, ok := s.inflight[seq]
	if !ok {
		return
	}
	delete(s.inflight, seq)
	e := slidingEntry{expiry: now.Add(s.window), cost: c}
	i, _ := slices.BinarySearchFunc(s.done, e.expiry, func(x slidingEntry, t time.Time) int { return x.expiry.Compare(t) })
	s.done = slices.Insert(s.done, i, e)
	s.doneSum += c
}
