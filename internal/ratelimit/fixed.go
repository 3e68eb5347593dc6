package ratelimit

// fixedLedger counts one exchange's calendar windows, numbered by the
// server's clock. A window holds
//
//	what we charged to it + what the server reported beyond that
//
// What we charged is every request granted in the window, every request
// the server counted in it although we granted it earlier, and every
// request still in flight from an earlier window (the server may yet count
// it here). The server's usage header is a monotone count within its
// window, so the highest report, hmax, was counted after every report
// below it; requests we charged whose answers reported usage are in it
// too. What the server reported beyond our charges is therefore
//
//	hmax - (charged requests answered with a report)
//
// which is others' usage (another tool on the IP) when positive, and our
// overestimate of costs when negative: reports correct the count up and
// down. Requests still in flight, or answered without a report, stay
// counted on top, since they may have been counted after hmax. A report
// counts only in the window the server counted it in: its Date bounds the
// counting instant from above, and the request's send time from below;
// when those fall in different windows the report is uncertain, and its
// usage is used only once a certain report shows it was counted earlier.
//
// The Redis scripts fixedTakeScript and fixedFinishScript apply the same
// rules to the state shared by several processes; keep them alike.
type fixedLedger struct {
	headers  bool // false: reports' usage is ignored (our own share)
	inflight map[uint64]*fixedTicket
	windows  map[int64]*fixedWindow
}

type fixedTicket struct {
	cost float64
	win  int64 // the window it was granted in
}

type fixedWindow struct {
	charged   float64 // granted here, or counted here after being granted earlier
	hasReport bool
	hmax      float64 // the highest usage reported for this window
	reported  float64 // charged requests whose certain answers reported usage
	// uncertain answers' (cost, usage): in this window or the one before
	uncertain []uncertainReport
}

type uncertainReport struct{ cost, used float64 }

func newFixedLedger(headers bool) *fixedLedger {
	return &fixedLedger{headers: headers, inflight: map[uint64]*fixedTicket{}, windows: map[int64]*fixedWindow{}}
}

func (l *fixedLedger) window(idx int64) *fixedWindow {
	w := l.windows[idx]
	if w == nil {
		w = &fixedWindow{}
		l.windows[idx] = w
	}
	return w
}

// est returns what window idx holds, and the part of it that is requests
// in flight from earlier windows.
func (l *fixedLedger) est(idx int64) (total, inflight float64) {
	for _, t := range l.inflight {
		if t.win < idx {
			inflight += t.cost
		}
	}
	w := l.windows[idx]
	if w == nil {
		return inflight, inflight
	}
	total = w.charged + inflight
	if w.hasReport {
		total += w.hmax - w.reported
		for _, u := range w.uncertain {
			if u.used <= w.hmax {
				// Counted before the highest report, here or in the
				// window before: either way not on top of hmax.
				total -= u.cost
			}
		}
	}
	return total, inflight
}

func (l *fixedLedger) grant(seq uint64, idx int64, cost float64) {
	l.window(idx).charged += cost
	l.inflight[seq] = &fixedTicket{cost: cost, win: idx}
}

// finish settles request seq: the server counted it in window sw (certain,
// or else the latest window it may have been counted in) and reported used
// units there (when hasUsed).
func (l *fixedLedger) finish(seq uint64, cur, sw int64, certain bool, used float64, hasUsed bool) {
	t := l.inflight[seq]
	if t == nil {
		return
	}
	delete(l.inflight, seq)
	if sw < cur || sw < t.win {
		// Counted in a window that is over, or earlier than we charged it:
		// the count we keep is the larger one.
		return
	}
	w := l.window(sw)
	if sw > t.win {
		w.charged += t.cost // granted earlier, counted here
	}
	if !hasUsed || !l.headers {
		return
	}
	if certain {
		w.hasReport = true
		w.hmax = max(w.hmax, used)
		w.reported += t.cost
		return
	}
	w.uncertain = append(w.uncertain, uncertainReport{cost: t.cost, used: used})
}

// prune forgets windows before cur.
func (l *fixedLedger) prune(cur int64) {
	for idx := range l.windows {
		if idx < cur {
			delete(l.windows, idx)
		}
	}
}

// shift renumbers every window by delta: the windows were numbered by a
// clock that turned out not to be the server's.
func (l *fixedLedger) shift(delta int64) {
	windows := make(map[int64]*fixedWindow, len(l.windows))
	for idx, w := range l.windows {
		windows[idx+delta] = w
	}
	l.windows = windows
	for _, t := range l.inflight {
		t.win += delta
	}
}
