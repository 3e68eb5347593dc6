package warehousetest

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
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

// seed writes the dataset with plain INSERTs (the TimescaleDB test server
// cannot COPY).
func seed(t *testing.T, conn *pgx.Conn, d dataset) {
	t.Helper()
	ctx := context.Background()
	b := &pgx.Batch{}
	q := func(sql string, args ...any) { b.Queue(sql, args...) }

	for _, s := range streams() {
		base, quote, _ := strings.Cut(s.symbol, "/")
		q(`INSERT INTO market.symbols (exchange, symbol, exchange_symbol, base, quote, active) VALUES ($1, $2, $3, $4, $5, true)`,
			s.exchange, s.symbol, base+quote, base, quote)
	}
	q(`INSERT INTO market.symbols (exchange, symbol, exchange_symbol, base, quote, active) VALUES ('binance', 'SOL/USDT', 'SOLUSDT', 'SOL', 'USDT', false)`)

	const candleSQL = `INSERT INTO market.candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true)`
	for _, s := range streams() {
		for i := range minutes {
			if !s.hasMinute(i) {
				continue
			}
			c := s.candle(i)
			q(candleSQL, s.exchange, s.symbol, "1m", d.base.Add(time.Duration(i)*time.Minute),
				dec(c.open), dec(c.high), dec(c.low), dec(c.close), dec(c.volume))
		}
		// Hourly candles as an exchange serves them: a query that forgets
		// its timeframe filter double-counts these.
		for h := range 3 {
			c := s.candle(60 * h)
			q(candleSQL, s.exchange, s.symbol, "1h", d.base.Add(time.Duration(h)*time.Hour),
				dec(c.open), dec(c.high), dec(c.low), dec(c.close), "999")
		}
	}

	for _, s := range streams() {
		for i := 0; i < minutes; i += 5 {
			c := s.candle(i)
			half := new(big.Rat).Quo(s.step, big.NewRat(2, 1))
			bid := new(big.Rat).Sub(c.close, half)
			ask := new(big.Rat).Add(c.close, half)
			ts := d.base.Add(time.Duration(i)*time.Minute + 10*time.Second)
			q(`INSERT INTO market.tickers (exchange, symbol, ts, bid, bid_volume, ask, ask_volume, last, base_volume)
				VALUES ($1, $2, $3, $4, '1.5', $5, '2.5', $6, '1000')`,
				s.exchange, s.symbol, ts, dec(bid), dec(ask), dec(c.close))
			// The book's best levels sit a quarter step inside the ticker's.
			quarter := new(big.Rat).Quo(s.step, big.NewRat(4, 1))
			bb := new(big.Rat).Add(bid, quarter)
			ba := new(big.Rat).Sub(ask, quarter)
			bids := []string{dec(bb), dec(new(big.Rat).Sub(bb, s.step)), dec(new(big.Rat).Sub(bb, new(big.Rat).Mul(s.step, big.NewRat(2, 1))))}
			asks := []string{dec(ba), dec(new(big.Rat).Add(ba, s.step)), dec(new(big.Rat).Add(ba, new(big.Rat).Mul(s.step, big.NewRat(2, 1))))}
			q(`INSERT INTO market.order_books (exchange, symbol, ts, nonce, best_bid, best_bid_amount, best_ask, best_ask_amount,
				bid_prices, bid_amounts, ask_prices, ask_amounts)
				VALUES ($1, $2, $3, $4, $5, '0.5', $6, '0.7', $7::numeric[], '{0.5,1,2}', $8::numeric[], '{0.7,1,3}')`,
				s.exchange, s.symbol, ts.Add(5*time.Second), int64(i), bids[0], asks[0], bids, asks)
		}
		for i := range tradesPer {
			tr := s.trade(d.base, i)
			side := "buy"
			if i%2 == 1 {
				side = "sell"
			}
			q(`INSERT INTO market.trades (exchange, symbol, ts, trade_id, price, amount, side) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				s.exchange, s.symbol, tr.ts, fmt.Sprintf("%s-%d", s.exchange, i), dec(tr.price), dec(tr.amount), side)
		}
	}

	seedOps(q, d)
	require.NoError(t, conn.SendBatch(ctx, b).Close(), "seeding")
}

// requestsPer and the failures among them, per exchange.
var requestsPer = map[string]int{"binance": 100, "kraken": 60}

// requestKind returns the status, outcome and category of request i.
func requestKind(exchange string, i int) (status *int, outcome, category string) {
	code := func(c int) *int { return &c }
	switch {
	case exchange == "binance" && i%20 == 0:
		return code(429), "retry", "rate_limited"
	case exchange == "binance" && i%25 == 7:
		return code(503), "retry", "server"
	case exchange == "kraken" && i%30 == 0:
		return nil, "error", "network"
	}
	return code(200), "ok", ""
}

func seedOps(q func(string, ...any), d dataset) {
	n := 0
	id := func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

	for _, ex := range exchanges {
		per := requestsPer[ex]
		for i := range per {
			status, outcome, category := requestKind(ex, i)
			var cat *string
			if category != "" {
				cat = &category
			}
			ts := d.base.Add(time.Duration(i) * 3 * time.Hour / time.Duration(per))
			endpoint := []string{"ohlcv", "ticker", "orderbook"}[i%3]
			q(`INSERT INTO ops.request_metrics (id, ts, exchange, endpoint, http_status, latency_ms, attempt, outcome, error_category)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				id(), ts, ex, endpoint, status, float64(50+10*(i%10)), 1+i%2, outcome, cat)
		}
	}

	for _, s := range streams() {
		for _, dt := range []string{"ohlcv", "ticker"} {
			for k := range 12 {
				score, passed, rejected := 0.98, true, 0
				if k%6 == 5 {
					score, passed, rejected = 0.6, false, 3
				}
				q(`INSERT INTO ops.quality_reports (id, ts, exchange, symbol, data_type, rows_total, rows_rejected,
					completeness, accuracy, consistency, timeliness, validity, uniqueness, score, passed, issues)
					VALUES ($1, $2, $3, $4, $5, 60, $6, $7, 1, 1, 0.95, 1, 1, $8, $9, $10)`,
					id(), d.base.Add(time.Duration(k)*15*time.Minute), s.exchange, s.symbol, dt, rejected,
					score, score, passed, `[{"check":"completeness","detail":"3 rows missing"}]`)
			}
		}
	}

	for k, reason := range []string{"ohlc_relation: low 2 > high 1", "ohlc_relation: low 3 > high 1", "invalid_value: open 0 (want > 0)"} {
		q(`INSERT INTO ops.rejected_rows (id, ts, exchange, symbol, data_type, source, code, reason, payload)
			VALUES ($1, $2, 'kraken', 'ETH/USDT', 'ohlcv', 'validation', split_part($3, ':', 1), $3, $4)`,
			id(), d.base.Add(time.Duration(30+k)*time.Minute), reason, `{"ts": 1700000000000, "high": "1", "low": "2"}`)
	}

	for _, ex := range exchanges {
		for _, job := range []string{"ohlcv", "ticker"} {
			for k := range 12 {
				start := d.base.Add(time.Duration(k) * 15 * time.Minute)
				outcome, errText := "ok", (*string)(nil)
				if ex == "kraken" && job == "ohlcv" && k == 4 {
					msg := "fetching ohlcv: HTTP 503"
					outcome, errText = "error", &msg
				}
				q(`INSERT INTO ops.job_runs (id, job, exchange, instance, started_at, finished_at, outcome, rows, error)
					VALUES ($1, $2, $3, 'test', $4, $5, $6, $7, $8)`,
					id(), job, ex, start, start.Add(time.Duration(200+k*10)*time.Millisecond), outcome, int64(4*(k+1)), errText)
			}
		}
	}

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
}

func ptr[T any](v T) *T { return &v }
