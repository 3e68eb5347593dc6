package replay

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault effects.
const (
	effectStatus    = "status"    // answer Status (429 with Retry-After, 418, 500, 503, ...)
	effectLatency   = "latency"   // add Latency, then answer normally
	effectHang      = "hang"      // never answer; the client has to give up
	effectTruncate  = "truncate"  // 200 with the body cut in half
	effectMalformed = "malformed" // 200 with a body that is not valid JSON
)

// Fault is one injected failure. Exchange and Route may be "*" (Route also
// empty) to match everything; Route is a route path as listed by
// /_admin/routes (e.g. /api/v3/klines, /products/{id}/book) or a concrete
// request path below the exchange prefix.
type Fault struct {
	Exchange    string  `json:"exchange"`
	Route       string  `json:"route,omitempty"`
	Effect      string  `json:"effect"`                // status, latency, hang, truncate, malformed; or a status code such as "429"
	Status      int     `json:"status,omitempty"`      // for effect status
	Latency     string  `json:"latency,omitempty"`     // for effect latency, a Go duration ("250ms")
	RetryAfter  int     `json:"retry_after,omitempty"` // seconds, sent with 429/418/503
	Probability float64 `json:"probability,omitempty"` // 0 or 1: every matching request
	Count       int     `json:"count,omitempty"`       // >0: only the next Count matching requests
	latency     time.Duration
}

// normalize validates a fault and fills the derived fields.
func (f *Fault) normalize() error {
	if f.Exchange == "" {
		return fmt.Errorf("%w: no exchange", ErrBadFault)
	}
	if f.Exchange != "*" && !knownExchange(f.Exchange) {
		return fmt.Errorf("%w: %w %q", ErrBadFault, ErrUnknownExchange, f.Exchange)
	}
	if f.Route == "" {
		f.Route = "*"
	}
	if n, err := strconv.Atoi(f.Effect); err == nil {
		f.Effect, f.Status = effectStatus, n
	}
	switch f.Effect {
	case effectStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("%w: status %d is not an error status", ErrBadFault, f.Status)
		}
	case effectLatency:
		d, err := time.ParseDuration(f.Latency)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: latency %q: want a positive duration like 250ms", ErrBadFault, f.Latency)
		}
		f.latency = d
	case effectHang, effectTruncate, effectMalformed:
	default:
		return fmt.Errorf("%w: effect %q (want a status code, latency, hang, truncate or malformed)", ErrBadFault, f.Effect)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("%w: probability %v not in [0, 1]", ErrBadFault, f.Probability)
	}
	if f.Count < 0 || f.RetryAfter < 0 {
		return fmt.Errorf("%w: negative count or retry_after", ErrBadFault)
	}
	return nil
}

// ParseFault reads the flag form EXCHANGE[:ROUTE]=EFFECT[,option...], e.g.
//
//	binance:/api/v3/klines=429
//	okx=503,count=3
//	kraken:/0/public/OHLC=latency:2s,p=0.5
//	*:*=hang,count=1
//
// EFFECT is a status code, latency:DURATION, hang, truncate or malformed;
// options are count=N (the next N matching requests), p=P (probability)
// and retry-after=SECONDS.
func ParseFault(s string) (Fault, error) {
	target, effect, found := strings.Cut(s, "=")
	if !found {
		return Fault{}, fmt.Errorf("%w %q: want EXCHANGE[:ROUTE]=EFFECT", ErrBadFault, s)
	}
	var f Fault
	f.Exchange, f.Route, _ = strings.Cut(target, ":")
	parts := strings.Split(effect, ",")
	f.Effect = parts[0]
	if d, ok := strings.CutPrefix(f.Effect, "latency:"); ok {
		f.Effect, f.Latency = effectLatency, d
	}
	for _, opt := range parts[1:] {
		k, v, _ := strings.Cut(opt, "=")
		var err error
		switch k {
		case "count":
			f.Count, err = strconv.Atoi(v)
		case "p", "probability":
			f.Probability, err = strconv.ParseFloat(v, 64)
		case "retry-after", "retry_after":
			f.RetryAfter, err = strconv.Atoi(v)
		default:
			err = fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("%w %q: %w", ErrBadFault, s, err)
		}
	}
	if err := f.normalize(); err != nil {
		return Fault{}, fmt.Errorf("%q: %w", s, err)
	}
	return f, nil
}

// faultSet holds the active faults.
type faultSet struct {
	mu     sync.Mutex
	faults []*Fault
	rnd    uint64
}

func (s *faultSet) add(f Fault) error {
	if err := f.normalize(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

func (s *faultSet) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *faultSet) list() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return out
}

// pick decides which faults fire for a request: the summed latency, and the
// first firing fault that changes the answer. Counted faults are used up.
func (s *faultSet) pick(exchange, route, path string) (time.Duration, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := strings.TrimPrefix(path, "/"+exchange)
	var latency time.Duration
	var chosen *Fault
	kept := s.faults[:0]
	for _, f := range s.faults {
		match := (f.Exchange == "*" || f.Exchange == exchange) &&
			(f.Route == "*" || f.Route == route || f.Route == sub)
		fire := match && (f.Effect == effectLatency || chosen == nil)
		if fire && f.Probability > 0 && f.Probability < 1 {
			s.rnd++
			fire = unit(mix(s.rnd)) < f.Probability
		}
		if fire {
			if f.Effect == effectLatency {
				latency += f.latency
			} else {
				c := *f
				chosen = &c
			}
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					continue // used up
				}
			}
		}
		kept = append(kept, f)
	}
	s.faults = kept
	return latency, chosen
}
