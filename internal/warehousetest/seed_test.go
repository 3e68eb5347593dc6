package warehousetest

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

// The dataset: two exchanges x two symbols over three hours of 1m candles,
// with tickers, order books and trades beside them and the ops rows the
// daemon writes. Values follow simple formulas so that tests can compute the
// expected results independently of SQL. Times are relative to now (whole
// hours), so freshness ages and retention-free backends both stay realistic.

const (
	minutes   = 180 // 1m candles per stream
	gapFrom   = 100 // kraken ETH/USDT lacks minutes gapFrom..gapFrom+gapLen-1
	gapLen    = 5
	gap2From  = 30 // binance ETH/USDT lacks minutes gap2From..gap2From+gap2Len-1
	gap2Len   = 2
	tradesPer = 30 // trades per stream, one every 6 minutes
)

var exchanges = []string{"binance", "kraken"}

// listedOnly is a market binance lists (active) with nothing stored.
const listedOnly = "XRP/USDT"

// stream is one (exchange, symbol) with its price formula:
// open(i) = base + offset + step*i.
type stream struct {
	exchange, symbol string
	base, offset     *big.Rat
	step             *big.Rat
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad rational " + s)
	}
	return r
}

// dec renders r with 4 decimals, the scale every seeded price fits.
func dec(r *big.Rat) string { return r.FloatString(4) }

func streams() []stream {
	return []stream{
		{"binance", "BTC/USDT", rat("60000"), rat("0"), rat("1")},
		{"kraken", "BTC/USDT", rat("60000"), rat("10"), rat("1")},
		{"binance", "ETH/USDT", rat("3000"), rat("0"), rat("0.1")},
		{"kraken", "ETH/USDT", rat("3000"), rat("1"), rat("0.1")},
	}
}

func (s stream) hasMinute(i int) bool {
	switch {
	case s.exchange == "kraken" && s.symbol == "ETH/USDT":
		return i < gapFrom || i >= gapFrom+gapLen
	case s.exchange == "binance" && s.symbol == "ETH/USDT":
		return i < gap2From || i >= gap2From+gap2Len
	}
	return true
}

type candle struct {
	open, high, low, close, volume *big.Rat
}

func (s stream) candle(i int) candle {
	open := new(big.Rat).Add(new(big.Rat).Add(s.base, s.offset), new(big.Rat).Mul(s.step, big.NewRat(int64(i), 1)))
	half := new(big.Rat).Quo(s.step, big.NewRat(2, 1))
	closeP := new(big.Rat).Add(open, half)
	return candle{
		open:   open,
		close:  closeP,
		high:   new(big.Rat).Add(closeP, new(big.Rat).Mul(s.step, big.NewRat(2, 1))),
		low:    new(big.Rat).Sub(open, s.step),
		volume: new(big.Rat).Add(big.NewRat(1, 1), big.NewRat(int64(i%5), 10)),
	}
}

type trade struct {
	ts            time.Time
	price, amount *big.Rat
}

func (s stream) trade(base time.Time, i int) trade {
	return trade{
		ts:     base.Add(time.Duration(6*i)*time.Minute + 30*time.Second),
		price:  s.candle(6 * i).close,
		amount: big.NewRat(int64(1+i%3), 10),
	}
}

// dataset is what seed wrote; base is the open time of the first candle.
type dataset struct {
	base time.Time
}

func newDataset() dataset {
	return dataset{base: time.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour)}
}

// seed writes the dataset through the product's own loader (store.Store,
// the COPY path the daemon and the backfills take), requiring every row to
// be stored.
func seed(t *testing.T, url string, d dataset) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	stored := func(what string, n int) func(store.Result, error) {
		return func(r store.Result, err error) {
			t.Helper()
			require.NoError(t, err, what)
			require.Equal(t, store.Result{Requested: n, Inserted: n}, r, what)
		}
	}

	var markets []market.Market
	for _, st := range streams() {
		base, quote, _ := strings.Cut(st.symbol, "/")
		markets = append(markets, market.Market{Exchange: st.exchange, Symbol: market.Symbol(st.symbol), ID: base + quote,
			Base: base, Quote: quote, Active: true})
	}
	markets = append(markets, market.Market{Exchange: "binance", Symbol: "SOL/USDT", ID: "SOLUSDT", Base: "SOL", Quote: "USDT"},
		// Listed and active but never ingested, as most of what an exchange
		// lists: views of the stored data leave it out.
		market.Market{Exchange: "binance", Symbol: listedOnly, ID: "XRPUSDT", Base: "XRP", Quote: "USDT", Active: true})
	stored("markets", len(markets))(s.Markets(ctx, markets))

	var candles []market.Candle
	bar := func(st stream, tf market.Timeframe, ts time.Time, c candle, volume string) market.Candle {
		return market.Candle{Exchange: st.exchange, Symbol: market.Symbol(st.symbol), Timeframe: tf, Time: ts,
			Open: num(c.open), High: num(c.high), Low: num(c.low), Close: num(c.close), Volume: market.MustDecimal(volume), Closed: true}
	}
	for _, st := range streams() {
		for i := range minutes {
			if st.hasMinute(i) {
				c := st.candle(i)
				candles = append(candles, bar(st, market.TF1m, d.base.Add(time.Duration(i)*time.Minute), c, dec(c.volume)))
			}
		}
		// Hourly candles as an exchange serves them: a query that forgets
		// its timeframe filter double-counts these.
		for h := range 3 {
			candles = append(candles, bar(st, market.TF1h, d.base.Add(time.Duration(h)*time.Hour), st.candle(60*h), "999"))
		}
	}
	stored("candles", len(candles))(s.Candles(ctx, candles))

	var (
		tickers []market.Ticker
		books   []market.OrderBook
		trades  []market.Trade
	)
	for _, st := range streams() {
		sym := market.Symbol(st.symbol)
		for i := 0; i < minutes; i += 5 {
			c := st.candle(i)
			half := new(big.Rat).Quo(st.step, big.NewRat(2, 1))
			bid := new(big.Rat).Sub(c.close, half)
			ask := new(big.Rat).Add(c.close, half)
			ts := d.base.Add(time.Duration(i)*time.Minute + 10*time.Second)
			tickers = append(tickers, market.Ticker{Exchange: st.exchange, Symbol: sym, Time: ts, Bid: num(bid),
				BidVolume: market.MustDecimal("1.5"), Ask: num(ask), AskVolume: market.MustDecimal("2.5"), Last: num(c.close),
				BaseVolume: market.MustDecimal("1000")})
			// The book's best levels sit a quarter step inside the ticker's.
			quarter := new(big.Rat).Quo(st.step, big.NewRat(4, 1))
			bb := new(big.Rat).Add(bid, quarter)
			ba := new(big.Rat).Sub(ask, quarter)
			level := func(p *big.Rat, amount string) market.Level {
				return market.Level{Price: num(p), Amount: market.MustDecimal(amount)}
			}
			books = append(books, market.OrderBook{Exchange: st.exchange, Symbol: sym, Time: ts.Add(5 * time.Second), Nonce: int64(i),
				Bids: []market.Level{level(bb, "0.5"), level(new(big.Rat).Sub(bb, st.step), "1"),
					level(new(big.Rat).Sub(bb, new(big.Rat).Mul(st.step, big.NewRat(2, 1))), "2")},
				Asks: []market.Level{level(ba, "0.7"), level(new(big.Rat).Add(ba, st.step), "1"),
					level(new(big.Rat).Add(ba, new(big.Rat).Mul(st.step, big.NewRat(2, 1))), "3")}})
		}
		for i := range tradesPer {
			tr := st.trade(d.base, i)
			side := market.SideBuy
			if i%2 == 1 {
				side = market.SideSell
			}
			trades = append(trades, market.Trade{Exchange: st.exchange, Symbol: sym, ID: fmt.Sprintf("%s-%d", st.exchange, i),
				Time: tr.ts, Side: side, Price: num(tr.price), Amount: num(tr.amount)})
		}
	}
	stored("tickers", len(tickers))(s.Tickers(ctx, tickers))
	stored("order books", len(books))(s.OrderBooks(ctx, books))
	stored("trades", len(trades))(s.Trades(ctx, trades))

	db := pgtest.Pool(t, url)
	defer db.Close() // done with it once seeded, as with s
	seedOps(t, ctx, s, db, d, stored)
}

// num is r as the exact decimal a seeded price is written with.
func num(r *big.Rat) market.Decimal { return market.MustDecimal(dec(r)) }

// requestsPer and the failures among them, per exchange.
var requestsPer = map[string]int{"binance": 100, "kraken": 60}

// requestKind returns the status (0: no response), outcome and category of
// request i.
func requestKind(exchange string, i int) (status int, outcome, category string) {
	switch {
	case exchange == "binance" && i%20 == 0:
		return 429, "retry", "rate_limited"
	case exchange == "binance" && i%25 == 7:
		return 503, "retry", "server"
	case exchange == "kraken" && i%30 == 0:
		return 0, "error", "network"
	}
	return 200, "ok", ""
}

func seedOps(t *testing.T, ctx context.Context, s *store.Store, db *pgxpool.Pool, d dataset, stored func(string, int) func(store.Result, error)) {
	t.Helper()
	var requests []ops.RequestMetric
	for _, ex := range exchanges {
		per := requestsPer[ex]
		for i := range per {
			status, outcome, category := requestKind(ex, i)
			requests = append(requests, ops.RequestMetric{Time: d.base.Add(time.Duration(i) * 3 * time.Hour / time.Duration(per)),
				Exchange: ex, Endpoint: []string{"ohlcv", "ticker", "orderbook"}[i%3], HTTPStatus: status,
				Latency: time.Duration(50+10*(i%10)) * time.Millisecond, Attempt: 1 + i%2, Outcome: outcome, ErrorCategory: category})
		}
	}
	stored("request metrics", len(requests))(s.RequestMetrics(ctx, requests))

	var reports []ops.QualityReport
	for _, st := range streams() {
		// What the daemon writes: a candle report names its timeframe.
		for _, dt := range []string{"ohlcv:1m", "ticker"} {
			for k := range 12 {
				score, passed, rejected := 0.98, true, 0
				if k%6 == 5 {
					score, passed, rejected = 0.6, false, 3
				}
				reports = append(reports, ops.QualityReport{Time: d.base.Add(time.Duration(k) * 15 * time.Minute),
					Exchange: st.exchange, Symbol: st.symbol, DataType: dt, RowsTotal: 60, RowsRejected: rejected,
					Completeness: score, Accuracy: 1, Consistency: 1, Timeliness: 0.95, Validity: 1, Uniqueness: 1,
					Score: score, Passed: passed, Issues: []byte(`[{"check":"completeness","detail":"3 rows missing"}]`)})
			}
		}
	}
	stored("quality reports", len(reports))(s.QualityReports(ctx, reports))

	var rejects []ops.RejectedRow
	for k, reason := range []string{"ohlc_relation: low 2 > high 1", "ohlc_relation: low 3 > high 1", "invalid_value: open 0 (want > 0)"} {
		code, _, _ := strings.Cut(reason, ":")
		rejects = append(rejects, ops.RejectedRow{Time: d.base.Add(time.Duration(30+k) * time.Minute), Exchange: "kraken",
			Symbol: "ETH/USDT", DataType: "ohlcv", Source: "validation", Code: code, Reason: reason,
			Payload: []byte(`{"ts": 1700000000000, "high": "1", "low": "2"}`)})
	}
	stored("rejected rows", len(rejects))(s.RejectedRows(ctx, rejects))

	var runs []ops.JobRun
	for _, ex := range exchanges {
		for _, job := range []string{"ohlcv", "ticker"} {
			for k := range 12 {
				start := d.base.Add(time.Duration(k) * 15 * time.Minute)
				outcome, errText := "ok", ""
				if ex == "kraken" && job == "ohlcv" && k == 4 {
					outcome, errText = "error", "fetching ohlcv: HTTP 503"
				}
				runs = append(runs, ops.JobRun{Job: job, Exchange: ex, Instance: "test", Started: start,
					Finished: start.Add(time.Duration(200+k*10) * time.Millisecond), Outcome: outcome, Rows: int64(4 * (k + 1)), Error: errText})
			}
		}
	}
	stored("job runs", len(runs))(s.JobRuns(ctx, runs))

	// The backfill journal's own tables, which the backfiller keeps with
	// plain upserts (not the COPY loader).
	b := &pgx.Batch{}
	q := func(sql string, args ...any) { b.Queue(sql, args...) }
	week := 7 * 24 * time.Hour
	q(`INSERT INTO ops.backfill_progress (exchange, symbol, kind, timeframe, range_from, range_to, cursor_ts, rows, requests, done)
		VALUES ('binance', 'BTC/USDT', 'ohlcv', '1m', $1, $2, $2, 10080, 11, true),
		       ('kraken', 'ETH/USDT', 'ohlcv', '1m', $1, $2, $3, 5040, 7, false)`,
		d.base.Add(-week), d.base, d.base.Add(-week/2))
	// A recent window, as `mdingest gaps --fill` asks for.
	q(`INSERT INTO ops.backfill_coverage (exchange, symbol, kind, timeframe, asked_from, asked_to, rows, first_ts, last_ts)
		VALUES ('binance', 'BTC/USDT', 'ohlcv', '1m', $1, $2, 180, $1, $3)`,
		d.base, d.base.Add(3*time.Hour), d.base.Add(3*time.Hour-time.Minute))
	for _, ex := range exchanges {
		for k := range 3 {
			from := d.base.Add(-week + time.Duration(k)*week/3)
			to := from.Add(week / 3)
			rows := 3360
			first, last := &from, ptr(to.Add(-time.Minute))
			if k == 0 {
				rows, first, last = 0, nil, nil // the exchange had nothing that far back
			}
			q(`INSERT INTO ops.backfill_coverage (exchange, symbol, kind, timeframe, asked_from, asked_to, rows, first_ts, last_ts)
				VALUES ($1, 'BTC/USDT', 'ohlcv', '1m', $2, $3, $4, $5, $6)`, ex, from, to, rows, first, last)
		}
	}
	require.NoError(t, db.SendBatch(ctx, b).Close(), "seeding the backfill journal")
}

func ptr[T any](v T) *T { return &v }
