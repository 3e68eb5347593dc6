package ingest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/tables"
)

var (
	btc    = market.Symbol("BTC/USDT")
	origin = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

// stream is one symbol's trades: id k at origin + k*spacing, as an
// exchange makes them; clock is the exchange's now.
type stream struct {
	mu      sync.Mutex
	spacing time.Duration
	clock   time.Time
	latestN int  // a latest-N exchange's answer
	served  int  // with a pager: the oldest id still served (0: all)
	fail    bool // the next call fails
	calls   []string
}

func (s *stream) now() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.clock }

func (s *stream) advance(d time.Duration) { s.mu.Lock(); s.clock = s.clock.Add(d); s.mu.Unlock() }

func (s *stream) trade(k int) market.Trade {
	return market.Trade{Exchange: "fakex", Symbol: btc, ID: strconv.Itoa(k), Time: origin.Add(time.Duration(k) * s.spacing),
		Side: market.SideBuy, Price: market.MustDecimal("100"), Amount: market.MustDecimal("1")}
}

// last is the newest trade's k at the clock.
func (s *stream) last() int { return int(s.clock.Sub(origin) / s.spacing) }

func (s *stream) ID() string { return "fakex" }
func (s *stream) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{MaxTrades: s.latestN, ConsecutiveTradeIDs: true}
}
func (s *stream) Markets(context.Context) ([]market.Market, error) { return nil, nil }
func (s *stream) Tickers(context.Context, []market.Symbol) ([]market.Ticker, error) {
	return nil, nil
}
func (s *stream) OrderBook(context.Context, market.Symbol, int) (market.OrderBook, error) {
	return market.OrderBook{}, nil
}
func (s *stream) OHLCV(context.Context, market.Symbol, market.Timeframe, time.Time, int) ([]market.Candle, error) {
	return nil, nil
}

var errDown = errors.New("503 from the fake")

// Trades answers the latest N.
func (s *stream) Trades(_ context.Context, _ market.Symbol, _ time.Time, limit int) ([]market.Trade, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "latest")
	if s.fail {
		s.fail = false
		return nil, errDown
	}
	hi := s.last()
	var out []market.Trade
	for k := max(hi-min(limit, s.latestN)+1, 0); k <= hi; k++ {
		out = append(out, s.trade(k))
	}
	return out, nil
}

// pager pages the stream like Binance's fromId.
type pager struct{ *stream }

func (p pager) TradesAfter(_ context.Context, _ market.Symbol, after exchange.TradeCursor, limit int) (exchange.TradePage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "after "+after.ID)
	if p.fail {
		p.fail = false
		return exchange.TradePage{}, errDown
	}
	hi := p.last()
	from := hi - limit + 1
	if !after.IsZero() {
		k, _ := strconv.Atoi(after.ID)
		from = k + 1
	}
	lost := false
	if from < p.served {
		from, lost = p.served, !after.IsZero()
	}
	var pg exchange.TradePage
	for k := max(from, 0); k <= hi && len(pg.Trades) < limit; k++ {
		pg.Trades = append(pg.Trades, p.trade(k))
	}
	pg.More = len(pg.Trades) == limit && from+limit <= hi
	pg.Lost = lost
	return pg, nil
}

// tradeLog is the database's side of capture.
type tradeLog struct {
	mu     sync.Mutex
	stored map[string]market.Trade // by id: what the sink wrote
	holes  []ops.TradeHole
	down   bool
}

func (l *tradeLog) LatestTrades(_ context.Context, _, _ string, before time.Time) (time.Time, []string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return time.Time{}, nil, false, errDown
	}
	var at time.Time
	var ids []string
	for _, t := range l.stored {
		if !before.IsZero() && !t.Time.Before(before) {
			continue
		}
		switch {
		case t.Time.After(at):
			at, ids = t.Time, []string{t.ID}
		case t.Time.Equal(at):
			ids = append(ids, t.ID)
		}
	}
	return at, ids, len(ids) > 0, nil
}

func (l *tradeLog) RecordTradeHoles(_ context.Context, hs []ops.TradeHole) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return errDown
	}
	l.holes = append(l.holes, hs...)
	return nil
}

// tradeSink stores into the log, and keeps the quality reports.
type tradeSink struct {
	log     *tradeLog
	mu      sync.Mutex
	puts    int
	reports []ops.QualityReport
}

func (s *tradeSink) Put(_ context.Context, _ time.Time, r tables.Rows) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reports, ok := tables.QualityReports.Of(r); ok {
		s.reports = append(s.reports, reports...)
		return nil
	}
	trades, ok := tables.Trades.Of(r)
	if !ok {
		return nil
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	if s.log.stored == nil {
		s.log.stored = map[string]market.Trade{}
	}
	for _, t := range trades {
		s.log.stored[t.ID] = t
	}
	s.puts++
	return nil
}

type captureEnv struct {
	s    *stream
	log  *tradeLog
	sink *tradeSink
	c    *TradeCapture
}

// newCapture builds a capture over the stream; withPager makes the
// exchange page.
func newCapture(t *testing.T, s *stream, withPager bool, mod func(*TradeOptions)) *captureEnv {
	t.Helper()
	e := &captureEnv{s: s, log: &tradeLog{}}
	e.sink = &tradeSink{log: e.log}
	qc, err := quality.NewChecker(quality.DefaultConfig())
	require.NoError(t, err)
	p, err := New(Options{Fetcher: s, Checker: noCandles{}, Sink: e.sink, Rejects: e.sink,
		Symbols: []market.Symbol{btc}, Now: s.now})
	require.NoError(t, err)
	o := TradeOptions{Log: e.log, Checker: qc, MinInterval: 10 * time.Millisecond, MaxInterval: time.Minute}
	if withPager {
		o.Pager = pager{s}
	}
	if mod != nil {
		mod(&o)
	}
	e.c, err = p.NewTradeCapture(o)
	require.NoError(t, err)
	return e
}

// noCandles stands in for the Pipeline's Checker, which capture does not use.
type noCandles struct{ Checker }

func (e *captureEnv) poll(t *testing.T) int64 {
	t.Helper()
	n, err := e.c.PollOnce(context.Background())
	require.NoError(t, err)
	return n
}

// stored returns the ids the sink holds, sorted.
func (e *captureEnv) storedRange() (lo, hi, n int) {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	lo = -1
	for id := range e.log.stored {
		k, _ := strconv.Atoi(id)
		if lo < 0 || k < lo {
			lo = k
		}
		hi = max(hi, k)
	}
	return lo, hi, len(e.log.stored)
}

// TestCapturePagesFromTheStoredCursor: after a restart the cursor is the
// newest stored trade; every trade since comes, once, page after page,
// and none is counted missing.
func TestCapturePagesFromTheStoredCursor(t *testing.T) {
	s := &stream{spacing: 10 * time.Millisecond, clock: origin.Add(time.Minute), latestN: 1000} // 6000 trades, pages of 1000
	e := newCapture(t, s, true, func(o *TradeOptions) { o.MaxPages = 100 })
	e.log.stored = map[string]market.Trade{"1000": s.trade(1000), "999": s.trade(999)}
	n := e.poll(t)
	require.Equal(t, int64(5000), n, "ids 1001..6000")
	lo, hi, count := e.storedRange()
	require.Equal(t, []int{999, 6000, 5002}, []int{lo, hi, count}, "contiguous from the cursor")
	require.Equal(t, "after 1000", e.s.calls[0], "paged from the newest stored trade")
	require.Empty(t, e.log.holes)
	for _, r := range e.sink.reports {
		require.Equal(t, 1.0, r.Completeness)
	}
	// Caught up, the rate (100/s) sets the interval: half a 1000-trade page.
	require.InDelta(t, 100, e.c.states[btc].rate, 1)
	require.Equal(t, 5*time.Second, e.c.target(e.c.states[btc]).Round(100*time.Millisecond))
	st := e.c.states[btc]
	require.Equal(t, 5*time.Second, e.c.interval(st).Round(100*time.Millisecond), "the first answer's rate")
	st.rate = 0.01 // the symbol turns quiet
	var ramp []time.Duration
	for range 4 {
		ramp = append(ramp, e.c.interval(st).Round(100*time.Millisecond))
	}
	require.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute}, ramp, "the wait at most doubles, up to MaxInterval")
	st.rate, st.wait = 100, 0

	// MaxPages bounds one poll; the rest comes at once on the next.
	s.advance(30 * time.Second)
	e.c.o.MaxPages = 2
	require.Equal(t, int64(2000), e.poll(t))
	require.Equal(t, e.c.o.MinInterval, e.c.interval(e.c.states[btc]), "more pages wait: come back at once")
	require.Equal(t, int64(1000), e.poll(t))
	_, hi, count = e.storedRange()
	require.Equal(t, []int{9000, 8002}, []int{hi, count})
}

// TestCaptureRecordsWhatIsNoLongerServed: a cursor older than what the
// exchange serves leaves a hole (not_served) with the exact count (ids are
// consecutive), recorded once, and the batch after it is not complete.
func TestCaptureRecordsWhatIsNoLongerServed(t *testing.T) {
	s := &stream{spacing: 10 * time.Millisecond, clock: origin.Add(time.Minute), served: 5000, latestN: 1000}
	e := newCapture(t, s, true, func(o *TradeOptions) { o.MaxPages = 100 })
	e.log.stored = map[string]market.Trade{"1000": s.trade(1000)}
	e.poll(t)
	require.Len(t, e.log.holes, 1)
	h := e.log.holes[0]
	require.Equal(t, ops.TradeHole{Exchange: "fakex", Symbol: "BTC/USDT", From: s.trade(1000).Time, FromID: "1000",
		To: s.trade(5000).Time, ToID: "5000", Reason: ops.HoleNotServed, Missed: 3999, Detail: h.Detail}, h)
	require.Less(t, e.sink.reports[0].Completeness, 0.5, "1000 trades after 3999 missed")
	require.False(t, e.sink.reports[0].Passed)
	s.advance(time.Second)
	e.poll(t)
	require.Len(t, e.log.holes, 1, "the hole is recorded once")
}

// TestCaptureLatestOverlap: a latest-N exchange polled before N new trades
// keeps every trade; a poll that comes too late records a hole, no_overlap
// with an estimate from the observed rate, or outage after a failed poll
// or a restart.
func TestCaptureLatestOverlap(t *testing.T) {
	s := &stream{spacing: 10 * time.Millisecond, clock: origin.Add(time.Minute), latestN: 60} // 100/s, answers of 0.6 s
	e := newCapture(t, s, false, nil)
	e.poll(t)
	require.Equal(t, 150*time.Millisecond, e.c.interval(e.c.states[btc]).Round(10*time.Millisecond), "a quarter of an answer at 100/s")
	quiet := &symbolState{}
	require.Equal(t, time.Second, e.c.interval(quiet), "no rate yet: a second, then doubling")
	require.Equal(t, 2*time.Second, e.c.interval(quiet))
	require.Equal(t, time.Minute, e.c.target(quiet), "up to MaxInterval")
	for range 20 {
		s.advance(400 * time.Millisecond) // later than planned, yet overlapping
		e.poll(t)
	}
	lo, hi, n := e.storedRange()
	require.Equal(t, hi-lo+1, n, "every trade from the first answer on")
	require.Empty(t, e.log.holes)

	s.advance(2 * time.Second) // 200 trades, answers of 60
	e.poll(t)
	require.Len(t, e.log.holes, 1)
	h := e.log.holes[0]
	require.Equal(t, ops.HoleNoOverlap, h.Reason)
	require.Equal(t, strconv.Itoa(hi), h.FromID)
	require.Equal(t, strconv.Itoa(hi+141), h.ToID, "the oldest of the answer")
	require.Equal(t, int64(140), h.Missed, "exact: ids are consecutive")
	require.Less(t, e.sink.reports[len(e.sink.reports)-1].Completeness, 0.5)
	require.InDelta(t, 75*time.Millisecond, e.c.target(e.c.states[btc]), float64(10*time.Millisecond), "after a hole, polls come twice as often")

	s.fail = true
	_, err := e.c.PollOnce(context.Background())
	require.ErrorIs(t, err, errDown)
	s.advance(2 * time.Second)
	e.poll(t)
	require.Len(t, e.log.holes, 2)
	require.Equal(t, ops.HoleOutage, e.log.holes[1].Reason, "after a failed poll")

	// A restart: the cursor comes from the database, and the first answer
	// does not reach it.
	_, hi, _ = e.storedRange()
	s.advance(5 * time.Second)
	e2 := newCapture(t, s, false, nil)
	e2.log.stored = e.log.stored
	e2.poll(t)
	require.Len(t, e2.log.holes, 1)
	require.Equal(t, ops.HoleOutage, e2.log.holes[0].Reason)
	require.Equal(t, strconv.Itoa(hi), e2.log.holes[0].FromID)
	require.Contains(t, e2.log.holes[0].Detail, "not running")
}

// TestCaptureWithoutTheDatabase: with the database away at start, a pager
// waits for it (the exchange keeps the trades, nothing is lost); a
// latest-N exchange captures from now and records the span before as an
// outage once the database answers.
func TestCaptureWithoutTheDatabase(t *testing.T) {
	s := &stream{spacing: 10 * time.Millisecond, clock: origin.Add(time.Minute), latestN: 60}
	e := newCapture(t, s, true, nil)
	e.log.down = true
	e.log.stored = map[string]market.Trade{"100": s.trade(100)}
	_, err := e.c.PollOnce(context.Background())
	require.ErrorIs(t, err, errDown)
	require.Empty(t, s.calls, "no fetch without a cursor")
	e.log.down = false
	e.c.o.MaxPages = 100
	e.poll(t)
	lo, hi, n := e.storedRange()
	require.Equal(t, []int{100, 6000, 5901}, []int{lo, hi, n}, "from the stored cursor on")

	s2 := &stream{spacing: 10 * time.Millisecond, clock: origin.Add(time.Minute), latestN: 60}
	e2 := newCapture(t, s2, false, nil)
	e2.log.stored = map[string]market.Trade{"100": s2.trade(100)}
	e2.log.down = true
	_, err = e2.c.PollOnce(context.Background())
	require.NoError(t, err, "captured without the database")
	_, _, n = e2.storedRange()
	require.Equal(t, 61, n, "the stored trade and the answer's 60")
	require.Empty(t, e2.log.holes)
	e2.log.down = false
	s2.advance(300 * time.Millisecond)
	e2.poll(t)
	require.Len(t, e2.log.holes, 1)
	h := e2.log.holes[0]
	require.Equal(t, ops.HoleOutage, h.Reason)
	require.Equal(t, "100", h.FromID)
	require.Equal(t, "5941", h.ToID, "the first trade captured")
}

// TestCaptureRun runs the loops on the wall clock against a latest-N
// exchange making 1000 trades a second, answers of 100 (0.1 s): every
// trade is kept, each period is reported, and a lease held elsewhere
// stops capture.
func TestCaptureRun(t *testing.T) {
	start := time.Now()
	s := &stream{spacing: time.Millisecond, latestN: 100}
	s.clock = origin
	wall := func() time.Time { return origin.Add(time.Second + time.Since(start)) }
	sw := &wallStream{stream: s, now: wall}
	reports := make(chan CaptureReport, 100)
	e := newCapture(t, s, false, func(o *TradeOptions) {
		o.MinInterval = 5 * time.Millisecond
		o.ReportEvery = 200 * time.Millisecond
		o.Report = func(_ context.Context, r CaptureReport) { reports <- r }
	})
	e.c.p.opts.Fetcher = sw
	e.c.p.now = wall
	e.c.p.markets.Store(&[]market.Market{{Symbol: btc, Active: true}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.c.Run(ctx) }()
	r := <-reports
	require.Positive(t, r.Polls)
	require.NoError(t, r.Err)
	time.Sleep(500 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	var rows int64
	for rows = r.Rows; len(reports) > 0; {
		rows += (<-reports).Rows
	}
	lo, hi, n := e.storedRange()
	require.Greater(t, n, 400)
	require.Equal(t, hi-lo+1, n, "every trade kept")
	require.Equal(t, int64(n), rows, "the reports, the last at the stop, count every trade")
	require.Empty(t, e.log.holes)
	require.Less(t, e.c.interval(e.c.states[btc]), 100*time.Millisecond)

	// Another instance holds the lease: nothing is polled.
	calls := len(s.calls)
	e2 := newCapture(t, s, false, func(o *TradeOptions) { o.Lease = leaseHeld(false) })
	n2, err := e2.c.PollOnce(context.Background())
	require.NoError(t, err)
	require.Zero(t, n2)
	require.Len(t, s.calls, calls)
}

type leaseHeld bool

func (l leaseHeld) Held(context.Context) bool { return bool(l) }

// wallStream is the stream on the wall clock.
type wallStream struct {
	*stream
	now func() time.Time
}

func (w *wallStream) Trades(ctx context.Context, s market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	w.mu.Lock()
	w.clock = w.now()
	w.mu.Unlock()
	return w.stream.Trades(ctx, s, since, limit)
}

func TestCaptureOptions(t *testing.T) {
	s := &stream{spacing: time.Second, latestN: 10}
	p, err := New(Options{Fetcher: s, Checker: noCandles{}, Sink: &tradeSink{}, Rejects: &tradeSink{}})
	require.NoError(t, err)
	_, err = p.NewTradeCapture(TradeOptions{})
	require.ErrorIs(t, err, ErrNoTradeLog)
}
