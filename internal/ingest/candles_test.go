package ingest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
)

// series is a fake exchange serving one 1m series of BTC/USDT as an
// exchange does: from since, at most limit (pages of maxPage), nothing
// after the running minute, which it serves as it stands.
type series struct {
	fetcher
	mu      sync.Mutex
	now     func() time.Time
	maxPage int
	gone    time.Time // served only from here (Kraken keeps 720)
	asked   []ask
}

type ask struct {
	since time.Time
	limit int
}

func (s *series) Capabilities() exchange.Capabilities {
	return exchange.Capabilities{MaxCandles: s.maxPage}
}

func (s *series) OHLCV(_ context.Context, sym market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, ask{since, limit})
	now := s.now()
	cur := now.Truncate(time.Minute)
	from := since
	if since.IsZero() {
		from = cur.Add(-time.Duration(limit-1) * time.Minute)
	}
	from = maxT(from, s.gone)
	var out []market.Candle
	for t := from; !t.After(cur) && len(out) < limit; t = t.Add(time.Minute) {
		out = append(out, market.Candle{Exchange: "fakex", Symbol: sym, Timeframe: tf, Time: t,
			Open: d("1"), High: d("2"), Low: d("0.5"), Close: d("1.5"), Volume: d("10")})
	}
	return out, nil
}

func (s *series) take() []ask {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.asked
	s.asked = nil
	return out
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// db is a fake CandleStore over the sink's rows, as market.candles would
// hold them, and ops.backfill_coverage.
type db struct {
	mu   sync.Mutex
	s    *sink
	err  error
	cov  []ops.Coverage
	rows map[time.Time]market.Candle
}

func (b *db) sync() {
	if b.rows == nil {
		b.rows = map[time.Time]market.Candle{}
	}
	for _, c := range b.s.candles {
		if old, ok := b.rows[c.Time]; !ok || !old.Closed {
			b.rows[c.Time] = c
		}
	}
	b.s.candles = nil
}

func (b *db) CandleCursor(_ context.Context, _ string, _ market.Symbol, _ market.Timeframe, from, to time.Time) (ops.CandleCursor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return ops.CandleCursor{}, b.err
	}
	b.sync()
	var c ops.CandleCursor
	for ts, k := range b.rows {
		if k.Closed && ts.After(c.LastClosed) {
			c.LastClosed = ts
		}
		if !k.Closed && !ts.Before(from) && ts.Before(to) && (c.FirstOpen.IsZero() || ts.Before(c.FirstOpen)) {
			c.FirstOpen = ts
		}
	}
	return c, nil
}

func (b *db) Coverage(_ context.Context, _ string, _ market.Symbol, _ market.DataType, _ market.Timeframe, cov []ops.Coverage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cov = append(b.cov, cov...)
	return b.err
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// candleEnv is a pipeline of one 1m series over the fakes.
func candleEnv(t *testing.T, maxPage int, mod ...func(*ingest.Options)) (*series, *db, *clock, func() *ingest.Pipeline) {
	ck := &clock{t: now}
	ex := &series{now: ck.Now, maxPage: maxPage}
	s := &sink{}
	store := &db{s: s}
	return ex, store, ck, func() *ingest.Pipeline {
		opts := ingest.Options{
			Fetcher: ex, Checker: checker{}, Sink: s, Rejects: s, Candles: store,
			Symbols: []market.Symbol{"BTC/USDT"}, Now: ck.Now,
		}
		for _, m := range mod {
			m(&opts)
		}
		p, err := ingest.New(opts)
		require.NoError(t, err)
		return p
	}
}

func TestCandleJobPagesFromTheCursor(t *testing.T) {
	ex, fdb, ck, restart := candleEnv(t, 100)
	ctx := context.Background()
	p := restart()
	_, err := p.Candles(ctx)
	require.NoError(t, err)
	cur := now.Truncate(time.Minute)
	require.Equal(t, []ask{{time.Time{}, 3}}, ex.take(), "a new series: the latest 3")

	ck.add(5 * time.Minute)
	_, err = p.Candles(ctx)
	require.NoError(t, err)
	require.Equal(t, []ask{{cur.Add(-time.Minute), 7}}, ex.take(), "from the last closed candle to the running one")

	// Stopped 250 minutes: a restart pages, 100 at a time.
	ck.add(250 * time.Minute)
	_, err = restart().Candles(ctx)
	require.NoError(t, err)
	last := cur.Add(4 * time.Minute)
	require.Equal(t, []ask{{last, 100}, {last.Add(99 * time.Minute), 100}, {last.Add(198 * time.Minute), 54}}, ex.take())
	cur = ck.Now().Truncate(time.Minute)
	fdb.mu.Lock()
	fdb.sync()
	for ts := now.Truncate(time.Minute).Add(-2 * time.Minute); ts.Before(cur); ts = ts.Add(time.Minute) {
		require.True(t, fdb.rows[ts].Closed, "%s stored closed", ts)
	}
	require.False(t, fdb.rows[cur].Closed)
	fdb.mu.Unlock()
	require.Empty(t, fdb.cov)
}

func TestCandleJobCatchupWindow(t *testing.T) {
	ex, fdb, ck, restart := candleEnv(t, 1000)
	ctx := context.Background()
	_, err := restart().Candles(ctx)
	require.NoError(t, err)
	ex.take()
	// Stopped two days: one run goes back the catch-up window (24h), the
	// gap fill the rest.
	ck.add(48 * time.Hour)
	_, err = restart().Candles(ctx)
	require.NoError(t, err)
	floor := ck.Now().Truncate(time.Minute).Add(-ingest.DefaultCandleCatchup)
	asks := ex.take()
	require.Len(t, asks, 2)
	require.Equal(t, floor.Add(-time.Minute), asks[0].since)
	require.Empty(t, fdb.cov, "the stretch before the window is missing, not a hole")
}

func TestCandleJobRecordsWhatTheExchangeNoLongerServes(t *testing.T) {
	ex, fdb, ck, restart := candleEnv(t, 720)
	ctx := context.Background()
	_, err := restart().Candles(ctx)
	require.NoError(t, err)
	resume := now.Truncate(time.Minute)
	ck.add(20 * time.Hour)
	ex.gone = ck.Now().Truncate(time.Minute).Add(-719 * time.Minute)
	_, err = restart().Candles(ctx)
	require.NoError(t, err)
	require.Equal(t, []ops.Coverage{{AskedFrom: resume, AskedTo: ex.gone}}, fdb.cov)
}

func TestCandleJobGoesOnWithoutTheDatabase(t *testing.T) {
	ex, fdb, ck, restart := candleEnv(t, 1000)
	ctx := context.Background()
	p := restart()
	_, err := p.Candles(ctx)
	require.NoError(t, err)
	ex.take()
	// The database is away (the writer spools): the cursor this process
	// keeps goes on.
	fdb.mu.Lock()
	fdb.err = errors.New("connection refused")
	fdb.mu.Unlock()
	ck.add(5 * time.Minute)
	_, err = p.Candles(ctx)
	require.NoError(t, err)
	ck.add(5 * time.Minute)
	_, err = p.Candles(ctx)
	require.NoError(t, err)
	cur := now.Truncate(time.Minute)
	require.Equal(t, []ask{{cur.Add(-time.Minute), 7}, {cur.Add(4 * time.Minute), 7}}, ex.take())
}

func TestCandleJobKeepsTheCursorWhenStoringFails(t *testing.T) {
	ex, fdb, ck, restart := candleEnv(t, 1000)
	ctx := context.Background()
	p := restart()
	_, err := p.Candles(ctx)
	require.NoError(t, err)
	ex.take()
	fdb.s.err = errors.New("queue closed")
	ck.add(5 * time.Minute)
	_, err = p.Candles(ctx)
	require.Error(t, err)
	fdb.s.err, fdb.s.candles = nil, nil // nothing reached the database
	ck.add(5 * time.Minute)
	_, err = p.Candles(ctx)
	require.NoError(t, err)
	cur := now.Truncate(time.Minute)
	require.Equal(t, []ask{{cur.Add(-time.Minute), 7}, {cur.Add(-time.Minute), 12}}, ex.take(), "asked again from where it stood")
}

// ageChecker records the freshness bound each batch was checked with.
type ageChecker struct {
	checker
	ages []time.Duration
}

func (c *ageChecker) CheckCandles(b []market.Candle, now time.Time, maxAge time.Duration) quality.Result[market.Candle] {
	c.ages = append(c.ages, maxAge)
	return c.checker.CheckCandles(b, now, maxAge)
}

func (c *ageChecker) CheckTickers(b []market.Ticker, now time.Time, maxAge time.Duration) quality.Result[market.Ticker] {
	c.ages = append(c.ages, maxAge)
	return c.checker.CheckTickers(b, now, maxAge)
}

// TestRoadForOtherCallers: rows fetched outside the jobs get the jobs'
// checks and records; history is not judged by freshness, not cached, and
// stored by the caller's put.
func TestRoadForOtherCallers(t *testing.T) {
	ck := &ageChecker{}
	e := newEnv(t, &fetcher{}, func(o *ingest.Options) {
		o.Checker = ck
		o.MaxAge = map[market.DataType]time.Duration{market.TypeOHLCV: 5 * time.Minute, market.TypeTicker: time.Minute}
	})
	ctx := context.Background()
	k := func(s market.Symbol) market.Candle {
		return market.Candle{Exchange: "fakex", Symbol: s, Timeframe: market.TF1m, Time: now.Add(-48 * time.Hour), Closed: true}
	}
	var put []market.Candle
	c, err := e.p.HistoryCandles(ctx, now, []market.Candle{k("BTC/USDT"), k(bad)}, func(_ context.Context, rows []market.Candle) error {
		put = append(put, rows...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, ingest.Checked{Accepted: 1, Rejected: 1}, c)
	require.Len(t, put, 1)
	require.Empty(t, e.s.candles, "history goes to put, not the sink")
	require.Empty(t, e.c.candles, "history is not cached")
	require.Len(t, e.s.rejected, 1)
	require.Equal(t, ingest.SourceValidation, e.s.rejected[0].Source)
	require.Len(t, e.s.reports, 2)

	c, err = e.p.IngestCandles(ctx, now, []market.Candle{k("ETH/USDT")})
	require.NoError(t, err)
	require.Equal(t, ingest.Checked{Accepted: 1}, c)
	require.Len(t, e.s.candles, 1)
	require.Len(t, e.c.candles, 1)

	tk := ticker("BTC/USDT")
	tk.Time = time.Time{}
	_, err = e.p.IngestTickers(ctx, now, []market.Ticker{tk})
	require.NoError(t, err)
	require.Equal(t, now, e.s.tickers[0].Time, "a ticker without a time gets the time it was handed over")
	require.Equal(t, []time.Duration{0, 5 * time.Minute, time.Minute}, ck.ages)
	require.Equal(t, 2.0, counter(t, e.reg, "rows_accepted_total", "exchange", "fakex", "type", "ohlcv"))
}

// TestCandleCatchupPagesAreHistory: only the page reaching the running
// period is judged on freshness; the pages before it are old by
// construction.
func TestCandleCatchupPagesAreHistory(t *testing.T) {
	ck := &ageChecker{}
	_, _, clk, restart := candleEnv(t, 100, func(o *ingest.Options) {
		o.Checker = ck
		o.MaxAge = map[market.DataType]time.Duration{market.TypeOHLCV: 5 * time.Minute}
	})
	_, err := restart().Candles(context.Background())
	require.NoError(t, err)
	clk.add(250 * time.Minute)
	_, err = restart().Candles(context.Background())
	require.NoError(t, err)
	require.Equal(t, []time.Duration{5 * time.Minute, 0, 0, 5 * time.Minute}, ck.ages)
}
