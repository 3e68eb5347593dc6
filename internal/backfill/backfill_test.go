package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/priority"
)

// TestBackfillMonth fetches a month of 1m candles for three symbols: every
// candle once, contiguous, in ceil(minutes/1000) requests per symbol, all
// at low priority, with coverage and progress recorded per page.
func TestBackfillMonth(t *testing.T) {
	from, to := day("2024-03-01T00:00:00Z"), day("2024-03-31T00:00:00Z")
	e := newEnv(t, day("2024-06-01T12:00:00Z"))
	minutes := int(to.Sub(from) / time.Minute)
	perSymbol := (minutes + 999) / 1000
	rec := &pages{}
	b := e.backfiller(t, nil, func(o *backfill.Options) { o.Concurrency = 3; o.Progress = rec })
	ctx := context.Background()

	sum, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc, eth, sol}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, 3*perSymbol, sum.Requests)
	require.Equal(t, 3*perSymbol, sum.Pages)
	require.Equal(t, 3*minutes, sum.Rows)
	require.Equal(t, 3*minutes, sum.Inserted)
	require.Zero(t, sum.Duplicates+sum.Rejected+sum.Updated+sum.Failed+sum.EmptyPages)
	require.Equal(t, 3, sum.Finished)
	require.Contains(t, sum.String(), fmt.Sprintf("3 ranges (3 finished, 0 resumed, 0 already done): %d requests, %d pages (0 empty), %d rows: %d inserted,",
		3*perSymbol, 3*perSymbol, 3*minutes, 3*minutes))
	require.EqualValues(t, 3*perSymbol, e.klineRequests())
	require.Equal(t, map[priority.Priority]int{priority.Low: 3 * perSymbol}, e.req.prio)
	require.Len(t, rec.events, 3*perSymbol)
	require.Equal(t, backfill.Plan{Exchange: "binance", Timeframe: market.TF1m, Ranges: 3, Total: 3 * to.Sub(from)}, rec.plan)

	for _, s := range []market.Symbol{btc, eth, sol} {
		var n, distinct int
		var first, last time.Time
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT ts), min(ts), max(ts)
FROM market.candles WHERE exchange = 'binance' AND symbol = $1 AND timeframe = '1m' AND closed`, string(s)).Scan(&n, &distinct, &first, &last))
		require.Equal(t, minutes, n, s)
		require.Equal(t, minutes, distinct, s)
		require.True(t, first.Equal(from), s)
		require.True(t, last.Equal(to.Add(-time.Minute)), "contiguous %s: last %s", s, last)

		var pr struct {
			cursor         time.Time
			rows, requests int
			done           bool
		}
		require.NoError(t, e.db.QueryRow(ctx, `SELECT cursor_ts, rows, requests, done FROM ops.backfill_progress
WHERE exchange = 'binance' AND symbol = $1 AND kind = 'ohlcv' AND timeframe = '1m'`, string(s)).Scan(&pr.cursor, &pr.rows, &pr.requests, &pr.done))
		require.True(t, pr.cursor.Equal(to))
		require.Equal(t, minutes, pr.rows)
		require.Equal(t, perSymbol, pr.requests)
		require.True(t, pr.done)

		require.Equal(t, perSymbol, e.count(t, `SELECT count(*) FROM ops.backfill_coverage WHERE symbol = $1 AND kind = 'ohlcv'`, string(s)))
		require.Equal(t, minutes, e.count(t, `SELECT sum(rows) FROM ops.backfill_coverage WHERE symbol = $1`, string(s)))
		// The pages tile the range: each starts where the previous ended.
		require.Equal(t, 0, e.count(t, `SELECT count(*) FROM (SELECT asked_from, lag(asked_to) OVER (ORDER BY asked_from) AS prev
FROM ops.backfill_coverage WHERE symbol = $1) c WHERE prev IS NOT NULL AND prev <> asked_from`, string(s)))
	}

	// The same command again: every range is done, nothing is fetched.
	e.req.take()
	again, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc, eth, sol}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, backfill.Summary{Ranges: 3, AlreadyDone: 3}, zeroElapsed(again))
	require.Empty(t, e.req.take())
}

func zeroElapsed(s backfill.Summary) backfill.Summary { s.Elapsed = 0; return s }

// TestBackfillResume stops a backfill after some pages (as Ctrl-C does)
// and runs it again: no stored page is fetched twice, nothing is
// duplicated, and the result is complete.
func TestBackfillResume(t *testing.T) {
	from, to := day("2024-02-01T00:00:00Z"), day("2024-02-11T00:00:00Z")
	minutes := int(to.Sub(from) / time.Minute) // 14400: 15 pages per symbol
	perSymbol := (minutes + 999) / 1000
	symbols := []market.Symbol{btc, eth, sol}
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			e := newEnv(t, day("2024-06-01T12:00:00Z"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := &pages{cancelAt: 7, cancel: cancel}
			b := e.backfiller(t, nil, func(o *backfill.Options) { o.Concurrency = conc; o.Progress = first })
			sum1, err := b.Run(ctx, backfill.Ranges(symbols, from, to, false))
			require.ErrorIs(t, err, context.Canceled)
			require.Zero(t, sum1.Failed, "an interrupted range has not failed")
			require.GreaterOrEqual(t, len(first.events), 7)
			require.Equal(t, len(first.events), sum1.Pages)
			run1 := e.req.take()

			second := &pages{}
			b = e.backfiller(t, nil, func(o *backfill.Options) { o.Concurrency = conc; o.Progress = second })
			sum2, err := b.Run(context.Background(), backfill.Ranges(symbols, from, to, false))
			require.NoError(t, err)
			run2 := e.req.take()
			require.Equal(t, 3, sum2.Finished)
			require.Positive(t, sum2.Resumed)

			// No page stored in the first run is asked for again.
			stored := map[string]bool{}
			for _, ev := range first.events {
				stored[fmt.Sprintf("%s@%d", ev.Symbol.Base()+ev.Symbol.Quote(), ev.From.UnixMilli())] = true
			}
			for _, c := range run2 {
				require.False(t, stored[fmt.Sprintf("%s@%d", c.symbol, c.start)], "page %s@%d fetched again", c.symbol, c.start)
			}
			if conc == 1 {
				// Sequential: the run stops right after the 7th stored page,
				// or the 8th, when it was fetched while the 7th was stored;
				// every page fetched was stored.
				require.LessOrEqual(t, len(first.events), 8)
				require.Len(t, run1, len(first.events))
				require.Len(t, run2, 3*perSymbol-len(first.events))
				require.Zero(t, sum2.Duplicates)
				require.Equal(t, 1, sum2.Resumed)
			}
			require.Equal(t, 3*minutes, e.count(t, `SELECT count(*) FROM market.candles`))
			require.Equal(t, 3*minutes, sum1.Inserted+sum2.Inserted)
			require.Equal(t, sum1.Rows+sum2.Rows, e.count(t, `SELECT sum(rows) FROM ops.backfill_progress`))
		})
	}
}

// TestOpenCandles: candles not yet ended are stored open, the range stays
// unfinished at the first open candle, and a later run finalises it.
func TestOpenCandles(t *testing.T) {
	from, to := day("2024-04-01T00:00:00Z"), day("2024-04-01T01:00:00Z")
	e := newEnv(t, day("2024-04-01T00:30:30Z"))
	b := e.backfiller(t, nil, nil)
	ctx := context.Background()
	rs := backfill.Ranges([]market.Symbol{btc}, from, to, false)
	state := func() (n, open int, openAt time.Time) {
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT closed),
	coalesce(min(ts) FILTER (WHERE NOT closed), 'epoch') FROM market.candles`).Scan(&n, &open, &openAt))
		return n, open, openAt
	}

	sum, err := b.Run(ctx, rs)
	require.NoError(t, err)
	require.Zero(t, sum.Finished)
	n, open, openAt := state()
	require.Equal(t, 31, n)
	require.Equal(t, 1, open)
	require.True(t, openAt.Equal(day("2024-04-01T00:30:00Z")))
	var cursor time.Time
	var done bool
	require.NoError(t, e.db.QueryRow(ctx, `SELECT cursor_ts, done FROM ops.backfill_progress`).Scan(&cursor, &done))
	require.True(t, cursor.Equal(openAt), "cursor stops at the open candle, got %s", cursor)
	require.False(t, done)

	e.clock.Set(day("2024-04-01T00:45:10Z"))
	sum, err = b.Run(ctx, rs)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Resumed)
	require.Equal(t, 1, sum.Updated, "the once-open candle is replaced by its final values")
	n, open, openAt = state()
	require.Equal(t, 46, n)
	require.Equal(t, 1, open)
	require.True(t, openAt.Equal(day("2024-04-01T00:45:00Z")))

	e.clock.Set(day("2024-04-01T01:05:00Z"))
	sum, err = b.Run(ctx, rs)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Finished)
	n, open, _ = state()
	require.Equal(t, 60, n)
	require.Zero(t, open)
}

// holey is a connector for an exchange that has no candles in some
// stretches and answers a window (since + limit periods), as Coinbase
// does: a window inside a hole comes back empty.
type holey struct {
	exchange.Connector
	holes [][2]time.Time
	caps  *exchange.Capabilities
}

func (h holey) OHLCV(ctx context.Context, s market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	cs, err := h.Connector.OHLCV(ctx, s, tf, since, limit)
	return slices.DeleteFunc(cs, func(c market.Candle) bool {
		for _, hole := range h.holes {
			if !c.Time.Before(hole[0]) && c.Time.Before(hole[1]) {
				return true
			}
		}
		return false
	}), err
}

func (h holey) Capabilities() exchange.Capabilities {
	if h.caps != nil {
		return *h.caps
	}
	return h.Connector.Capabilities()
}

// TestEmptyPages: where the exchange has nothing, an empty page moves the
// cursor over its window and the coverage says so; nothing is invented.
func TestEmptyPages(t *testing.T) {
	from, to := day("2024-05-01T00:00:00Z"), day("2024-05-01T10:00:00Z") // 600 minutes
	e := newEnv(t, day("2024-06-01T00:00:00Z"))
	conn := holey{Connector: e.conn, holes: [][2]time.Time{
		{day("2024-05-01T01:40:00Z"), day("2024-05-01T05:00:00Z")}, // covers the whole third page
		{day("2024-05-01T07:00:00Z"), day("2024-05-01T07:03:00Z")}, // inside a page
	}}
	b := e.backfiller(t, conn, func(o *backfill.Options) { o.PageSize = 100 })
	sum, err := b.Run(context.Background(), backfill.Ranges([]market.Symbol{btc}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, 2, sum.EmptyPages)
	require.Equal(t, 6, sum.Requests)
	require.Equal(t, 600-200-3, sum.Rows)
	require.Equal(t, 600-200-3, e.count(t, `SELECT count(*) FROM market.candles`))
	// The windows from 01:40 and 03:20 came back empty; 07:00-07:03 is a
	// hole inside the window from 06:40: one coverage row per request.
	require.Equal(t, 6, e.count(t, `SELECT count(*) FROM ops.backfill_coverage`))
	for _, c := range [][2]string{
		{"2024-05-01T01:40:00Z", "2024-05-01T03:20:00Z"},
		{"2024-05-01T03:20:00Z", "2024-05-01T05:00:00Z"},
	} {
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM ops.backfill_coverage
WHERE rows = 0 AND first_ts IS NULL AND asked_from = $1 AND asked_to = $2`, day(c[0]), day(c[1])), c)
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM ops.backfill_coverage
WHERE asked_from = '2024-05-01T06:40:00Z' AND rows = 97 AND first_ts = '2024-05-01T06:40:00Z' AND last_ts = '2024-05-01T08:19:00Z'`))
}

// TestTrades pages trades by time (several can share a millisecond) and
// stores each exactly once; exchanges without trade history are skipped.
func TestTrades(t *testing.T) {
	from, to := day("2024-03-05T10:00:00Z"), day("2024-03-05T10:10:00Z")
	e := newEnv(t, day("2024-06-01T00:00:00Z"))
	ctx := context.Background()
	b := e.backfiller(t, nil, func(o *backfill.Options) { o.TradePageSize = 50 })
	sum, err := b.Run(ctx, []backfill.Range{{Symbol: btc, Kind: market.TypeTrades, From: from, To: to}})
	require.NoError(t, err)
	require.Equal(t, 1, sum.Finished)

	// The same trades in one request.
	all, err := e.conn.Trades(ctx, btc, from, 1000)
	require.NoError(t, err)
	all = slices.DeleteFunc(all, func(tr market.Trade) bool { return !tr.Time.Before(to) })
	require.Greater(t, len(all), 200)
	require.Less(t, len(all), 1000)
	require.Equal(t, len(all), sum.Rows)
	require.Zero(t, sum.Duplicates)
	require.Equal(t, len(all), e.count(t, `SELECT count(*) FROM market.trades`))
	require.Equal(t, len(all), e.count(t, `SELECT count(DISTINCT trade_id) FROM market.trades WHERE ts >= $1 AND ts < $2`, from, to))
	// Each page after the first starts at the previous page's last trade,
	// which it drops as already stored.
	require.Equal(t, sum.Pages, sum.Requests)
	require.GreaterOrEqual(t, sum.Requests, (len(all)+49)/50)
	require.LessOrEqual(t, sum.Requests, (len(all)+48)/49+1)

	caps := e.conn.Capabilities()
	caps.HistoricalTrades = false
	b = e.backfiller(t, holey{Connector: e.conn, caps: &caps}, nil)
	sum, err = b.Run(ctx, backfill.Ranges([]market.Symbol{eth}, from, to, true))
	require.NoError(t, err)
	require.Equal(t, 1, sum.Skipped)
	require.Equal(t, 1, sum.Finished)
	require.Zero(t, e.count(t, `SELECT count(*) FROM market.trades WHERE symbol = 'ETH/USDT'`))
}

// TestInvalid rejects bad options and ranges before fetching anything.
func TestInvalid(t *testing.T) {
	_, err := backfill.New(backfill.Options{})
	require.ErrorIs(t, err, backfill.ErrInvalidOptions)
	e := newEnv(t, day("2024-06-01T00:00:00Z"))
	b := e.backfiller(t, nil, nil)
	for _, r := range []backfill.Range{
		{Symbol: btc, Kind: market.TypeOHLCV, From: day("2024-03-02T00:00:00Z"), To: day("2024-03-01T00:00:00Z")},
		{Symbol: btc, Kind: market.TypeTicker, From: day("2024-03-01T00:00:00Z"), To: day("2024-03-02T00:00:00Z")},
		{Kind: market.TypeOHLCV, From: day("2024-03-01T00:00:00Z"), To: day("2024-03-02T00:00:00Z")},
	} {
		_, err := b.Run(context.Background(), []backfill.Range{r})
		require.ErrorIs(t, err, backfill.ErrInvalidRange)
	}
	require.Empty(t, e.req.take())
}

// garbled answers its n-th candle request with a body it cannot decode.
type garbled struct {
	exchange.Connector
	n     int
	calls *int
}

func (g garbled) OHLCV(ctx context.Context, s market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	*g.calls++
	if *g.calls == g.n {
		return nil, &exchange.DecodeError{Exchange: "binance", Endpoint: "klines", Payload: []byte(`[[1709251200000,"1.0"`), Err: errors.New("unexpected end of JSON input")}
	}
	return g.Connector.OHLCV(ctx, s, tf, since, limit)
}

// TestFailures: a range that fails stops where its last stored page ended
// and keeps an undecodable answer whole; the other ranges go on, and a
// later run continues the failed one.
func TestFailures(t *testing.T) {
	from, to := day("2024-03-01T00:00:00Z"), day("2024-03-03T00:00:00Z") // 2880 minutes: 3 pages
	e := newEnv(t, day("2024-06-01T00:00:00Z"))
	ctx := context.Background()
	calls := 0
	b := e.backfiller(t, garbled{Connector: e.conn, n: 2, calls: &calls}, nil)
	sum, err := b.Run(ctx, backfill.Ranges([]market.Symbol{btc, "DOGE/USDT", eth}, from, to, false))
	var de *exchange.DecodeError
	require.ErrorAs(t, err, &de)
	require.ErrorContains(t, err, "DOGE/USDT ohlcv")
	require.Equal(t, 2, sum.Failed)
	require.Equal(t, 1, sum.Finished)
	require.Equal(t, 1+1+1+3, sum.Requests) // BTC: one page then the garbled answer; DOGE refused; ETH whole
	require.Equal(t, 1000+2880, e.count(t, `SELECT count(*) FROM market.candles`))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM ops.rejected_rows
WHERE source = 'decode' AND symbol = 'BTC/USDT' AND data_type = 'ohlcv' AND raw = '[[1709251200000,"1.0"'::bytea`))

	e.req.take()
	sum, err = b.Run(ctx, backfill.Ranges([]market.Symbol{btc}, from, to, false))
	require.NoError(t, err)
	require.Equal(t, 1, sum.Resumed)
	require.Equal(t, 2, sum.Requests)
	require.Equal(t, 2*2880, e.count(t, `SELECT count(*) FROM market.candles`))
}
