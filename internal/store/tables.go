package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
)

// The tables. Each is a description for the one generic loader.
var (
	candles = (&table[market.Candle]{
		name:      pgx.Identifier{"market", "candles"},
		columns:   []string{"exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "closed"},
		key:       []string{"exchange", "symbol", "timeframe", "ts"},
		update:    []string{"open", "high", "low", "close", "volume", "closed"},
		mutableIf: "NOT t.closed", // closed candles are immutable
		touch:     "updated_at",
		at:        func(c market.Candle) time.Time { return c.Time },
		cmp: func(a, b market.Candle) int {
			// Column by column, stopping at the first difference: a batch's
			// rows share their series, and the loader compares every
			// neighbouring pair.
			switch {
			case a.Exchange != b.Exchange:
				return cmp.Compare(a.Exchange, b.Exchange)
			case a.Symbol != b.Symbol:
				return cmp.Compare(a.Symbol, b.Symbol)
			case a.Timeframe != b.Timeframe:
				return cmp.Compare(a.Timeframe, b.Timeframe)
			}
			return a.Time.Compare(b.Time)
		},
		encode: func(c market.Candle, v []any) []any {
			return append(v, c.Exchange, string(c.Symbol), string(c.Timeframe), c.Time,
				c.Open, c.High, c.Low, c.Close, c.Volume, c.Closed)
		},
		binary: func(b []byte, c market.Candle) []byte {
			b = appendFields(b, 10)
			b = appendText(b, c.Exchange)
			b = appendText(b, string(c.Symbol))
			b = appendText(b, string(c.Timeframe))
			b = appendTime(b, c.Time)
			b = appendDecimal(b, c.Open)
			b = appendDecimal(b, c.High)
			b = appendDecimal(b, c.Low)
			b = appendDecimal(b, c.Close)
			b = appendDecimal(b, c.Volume)
			return appendBool(b, c.Closed)
		},
		check: func(c market.Candle) error {
			return firstErr(checkText(c.Exchange, string(c.Symbol), string(c.Timeframe)), checkTime(c.Time),
				required(c.Open, c.High, c.Low, c.Close, c.Volume))
		},
		reject: func(c market.Candle, reason string) ops.RejectedRow {
			return reject(c.Exchange, string(c.Symbol), market.TypeOHLCV, reason,
				map[string]any{"timeframe": c.Timeframe, "closed": c.Closed, "ohlcv": c})
		},
		probe: &probe[market.Candle]{
			sameRun: func(a, b market.Candle) bool {
				return a.Exchange == b.Exchange && a.Symbol == b.Symbol && a.Timeframe == b.Timeframe
			},
			sql: `SELECT ts, open, high, low, close, volume, closed FROM market.candles
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $4 AND ts <= $5 ORDER BY ts`,
			args: func(run []market.Candle) []any {
				c := run[0]
				return []any{c.Exchange, string(c.Symbol), string(c.Timeframe), c.Time, run[len(run)-1].Time}
			},
			cmpKey: func(raw [][]byte, c market.Candle) int { return cmp.Compare(rawMicros(raw[0]), pgMicros(c.Time)) },
			verdict: func(raw [][]byte, c market.Candle, sc *[]byte) verdict {
				same := numericEqual(raw[1], c.Open, sc) && numericEqual(raw[2], c.High, sc) && numericEqual(raw[3], c.Low, sc) &&
					numericEqual(raw[4], c.Close, sc) && numericEqual(raw[5], c.Volume, sc)
				storedClosed := rawBool(raw[6])
				switch {
				case same && storedClosed == c.Closed, storedClosed && !c.Closed:
					return vSame // a late partial copy of a final candle brings nothing
				case storedClosed:
					return vConflict
				}
				return vChanged // still open: the later fetch wins
			},
			conflict: func(raw [][]byte, c market.Candle) (ops.RejectedRow, error) {
				stored := c
				var err error
				for i, dst := range []*market.Decimal{&stored.Open, &stored.High, &stored.Low, &stored.Close, &stored.Volume} {
					if *dst, err = rawDecimal(raw[1+i]); err != nil {
						return ops.RejectedRow{}, err
					}
				}
				var diff differences
				for _, f := range []struct {
					name string
					a, b market.Decimal
				}{{"open", stored.Open, c.Open}, {"high", stored.High, c.High}, {"low", stored.Low, c.Low},
					{"close", stored.Close, c.Close}, {"volume", stored.Volume, c.Volume}} {
					if f.a.Cmp(f.b) != 0 {
						diff.add(f.name, f.a.String(), f.b.String())
					}
				}
				what := fmt.Sprintf("closed %s candle %s", c.Timeframe, c.Time.UTC().Format(time.RFC3339))
				return conflictRow(c.Exchange, string(c.Symbol), string(market.TypeOHLCV), what, diff,
					map[string]any{"closed": true, "ohlcv": stored}, map[string]any{"closed": true, "ohlcv": c},
					map[string]any{"timeframe": c.Timeframe}), nil
			},
		},
	}).prepare()

	tickers = (&table[market.Ticker]{
		name: pgx.Identifier{"market", "tickers"},
		columns: []string{"exchange", "symbol", "ts", "bid", "bid_volume", "ask", "ask_volume", "last",
			"open", "high", "low", "close", "vwap", "base_volume", "quote_volume"},
		key: []string{"exchange", "symbol", "ts"},
		at:  func(t market.Ticker) time.Time { return t.Time },
		cmp: func(a, b market.Ticker) int {
			return cmpKeys(cmp.Compare(a.Exchange, b.Exchange), cmp.Compare(a.Symbol, b.Symbol), a.Time.Compare(b.Time))
		},
		encode: func(t market.Ticker, v []any) []any {
			return append(v, t.Exchange, string(t.Symbol), t.Time, t.Bid, t.BidVolume, t.Ask,
				t.AskVolume, t.Last, t.Open, t.High, t.Low, t.Close, t.VWAP,
				t.BaseVolume, t.QuoteVolume)
		},
		check: func(t market.Ticker) error {
			return firstErr(checkText(t.Exchange, string(t.Symbol)), checkTime(t.Time))
		},
		reject: func(t market.Ticker, reason string) ops.RejectedRow {
			return reject(t.Exchange, string(t.Symbol), market.TypeTicker, reason, t)
		},
	}).prepare()

	orderBooks = (&table[market.OrderBook]{
		name: pgx.Identifier{"market", "order_books"},
		columns: []string{"exchange", "symbol", "ts", "nonce", "best_bid", "best_bid_amount", "best_ask", "best_ask_amount",
			"bid_prices", "bid_amounts", "ask_prices", "ask_amounts"},
		key: []string{"exchange", "symbol", "ts"},
		encode: func(b market.OrderBook, v []any) []any {
			var nonce pgtype.Int8
			if b.Nonce != 0 {
				nonce = pgtype.Int8{Int64: b.Nonce, Valid: true}
			}
			bb, ba := top(b.Bids)
			ab, aa := top(b.Asks)
			bp, bq := levels(b.Bids)
			ap, aq := levels(b.Asks)
			return append(v, b.Exchange, string(b.Symbol), b.Time, nonce, bb, ba, ab, aa, bp, bq, ap, aq)
		},
		check: func(b market.OrderBook) error {
			var err error
			for _, side := range [][]market.Level{b.Bids, b.Asks} {
				for _, l := range side {
					err = firstErr(err, required(l.Price, l.Amount))
				}
			}
			return firstErr(checkText(b.Exchange, string(b.Symbol)), checkTime(b.Time), err)
		},
		reject: func(b market.OrderBook, reason string) ops.RejectedRow {
			return reject(b.Exchange, string(b.Symbol), market.TypeOrderBook, reason, b)
		},
	}).prepare()

	trades = (&table[market.Trade]{
		name:    pgx.Identifier{"market", "trades"},
		columns: []string{"exchange", "symbol", "ts", "trade_id", "price", "amount", "side"},
		key:     []string{"exchange", "symbol", "trade_id", "ts"},
		at:      func(t market.Trade) time.Time { return t.Time },
		cmp: func(a, b market.Trade) int {
			return cmpKeys(cmp.Compare(a.Exchange, b.Exchange), cmp.Compare(a.Symbol, b.Symbol), cmp.Compare(a.ID, b.ID), a.Time.Compare(b.Time))
		},
		encode: func(t market.Trade, v []any) []any {
			var side pgtype.Text
			if t.Side != market.SideUnknown {
				side = pgtype.Text{String: string(t.Side), Valid: true}
			}
			return append(v, t.Exchange, string(t.Symbol), t.Time, t.ID, t.Price, t.Amount, side)
		},
		binary: func(b []byte, t market.Trade) []byte {
			b = appendFields(b, 7)
			b = appendText(b, t.Exchange)
			b = appendText(b, string(t.Symbol))
			b = appendTime(b, t.Time)
			b = appendText(b, t.ID)
			b = appendDecimal(b, t.Price)
			b = appendDecimal(b, t.Amount)
			if t.Side == market.SideUnknown {
				return appendNull(b)
			}
			return appendText(b, string(t.Side))
		},
		check: func(t market.Trade) error {
			if t.ID == "" {
				return errors.New("trade without id")
			}
			return firstErr(checkText(t.Exchange, string(t.Symbol), t.ID), checkTime(t.Time), required(t.Price, t.Amount))
		},
		reject: func(t market.Trade, reason string) ops.RejectedRow {
			return reject(t.Exchange, string(t.Symbol), market.TypeTrades, reason, t)
		},
		probe: &probe[market.Trade]{
			sameRun: func(a, b market.Trade) bool { return a.Exchange == b.Exchange && a.Symbol == b.Symbol },
			// Runs are in trade id order, bytewise as Go compares strings.
			sql: `SELECT trade_id, ts, price, amount, side FROM market.trades
WHERE exchange = $1 AND symbol = $2 AND trade_id = ANY($3) AND ts >= $4 AND ts <= $5 ORDER BY trade_id COLLATE "C", ts`,
			args: func(run []market.Trade) []any {
				ids := make([]string, len(run))
				lo, hi := run[0].Time, run[0].Time
				for i, t := range run {
					ids[i] = t.ID
					if t.Time.Before(lo) {
						lo = t.Time
					}
					if t.Time.After(hi) {
						hi = t.Time
					}
				}
				return []any{run[0].Exchange, string(run[0].Symbol), ids, lo, hi}
			},
			cmpKey: func(raw [][]byte, t market.Trade) int {
				if c := compareText(raw[0], t.ID); c != 0 {
					return c
				}
				return cmp.Compare(rawMicros(raw[1]), pgMicros(t.Time))
			},
			verdict: func(raw [][]byte, t market.Trade, sc *[]byte) verdict {
				if numericEqual(raw[2], t.Price, sc) && numericEqual(raw[3], t.Amount, sc) && string(raw[4]) == string(t.Side) {
					return vSame
				}
				return vConflict // a trade is final as soon as it exists
			},
			conflict: func(raw [][]byte, t market.Trade) (ops.RejectedRow, error) {
				stored := t
				var err error
				if stored.Price, err = rawDecimal(raw[2]); err != nil {
					return ops.RejectedRow{}, err
				}
				if stored.Amount, err = rawDecimal(raw[3]); err != nil {
					return ops.RejectedRow{}, err
				}
				stored.Side = market.Side(raw[4])
				var diff differences
				if stored.Price.Cmp(t.Price) != 0 {
					diff.add("price", stored.Price.String(), t.Price.String())
				}
				if stored.Amount.Cmp(t.Amount) != 0 {
					diff.add("amount", stored.Amount.String(), t.Amount.String())
				}
				diff.add("side", string(stored.Side), string(t.Side))
				return conflictRow(t.Exchange, string(t.Symbol), string(market.TypeTrades), "trade "+t.ID, diff, stored, t, nil), nil
			},
		},
	}).prepare()

	symbols = (&table[market.Market]{
		name:    pgx.Identifier{"market", "symbols"},
		columns: []string{"exchange", "symbol", "exchange_symbol", "base", "quote", "active"},
		key:     []string{"exchange", "symbol"},
		update:  []string{"exchange_symbol", "base", "quote", "active"},
		touch:   "updated_at",
		encode: func(m market.Market, v []any) []any {
			return append(v, m.Exchange, string(m.Symbol), m.ID, m.Base, m.Quote, m.Active)
		},
		check: func(m market.Market) error {
			return checkText(m.Exchange, string(m.Symbol), m.ID, m.Base, m.Quote)
		},
		reject: func(m market.Market, reason string) ops.RejectedRow {
			return reject(m.Exchange, string(m.Symbol), market.TypeMarkets, reason, m)
		},
	}).prepare()

	requestMetrics = (&table[ops.RequestMetric]{
		name:    pgx.Identifier{"ops", "request_metrics"},
		columns: []string{"id", "ts", "exchange", "endpoint", "http_status", "latency_ms", "attempt", "outcome", "error_category"},
		key:     []string{"id", "ts"},
		encode: func(m ops.RequestMetric, v []any) []any {
			var status pgtype.Int4
			if m.HTTPStatus != 0 {
				status = pgtype.Int4{Int32: int32(m.HTTPStatus), Valid: true}
			}
			return append(v, pgUUID(m.ID), m.Time, m.Exchange, m.Endpoint, status,
				float64(m.Latency)/float64(time.Millisecond), int32(m.Attempt), m.Outcome, optText(m.ErrorCategory))
		},
	}).prepare()

	qualityReports = (&table[ops.QualityReport]{
		name: pgx.Identifier{"ops", "quality_reports"},
		columns: []string{"id", "ts", "exchange", "symbol", "data_type", "rows_total", "rows_rejected",
			"completeness", "accuracy", "consistency", "timeliness", "validity", "uniqueness", "score", "passed", "issues"},
		key: []string{"id", "ts"},
		encode: func(q ops.QualityReport, v []any) []any {
			issues := q.Issues
			if len(issues) == 0 {
				issues = []byte("[]")
			}
			return append(v, pgUUID(q.ID), q.Time, q.Exchange, q.Symbol, q.DataType, int32(q.RowsTotal), int32(q.RowsRejected),
				q.Completeness, q.Accuracy, q.Consistency, q.Timeliness, q.Validity, q.Uniqueness, q.Score, q.Passed, issues)
		},
	}).prepare()

	rejectedRows = (&table[ops.RejectedRow]{
		name:    pgx.Identifier{"ops", "rejected_rows"},
		columns: []string{"id", "ts", "exchange", "symbol", "data_type", "source", "code", "reason", "payload", "raw"},
		key:     []string{"id", "ts"},
		encode: func(r ops.RejectedRow, v []any) []any {
			// jsonb refuses invalid JSON and \u0000; such payloads stay raw.
			var payload, raw any
			if json.Valid(r.Payload) && !bytes.Contains(r.Payload, []byte(`\u0000`)) {
				payload = r.Payload
			} else {
				raw = r.Payload
			}
			code := r.Code
			if code == "" {
				code = ops.CodeFor(r.Source)
			}
			return append(v, pgUUID(r.ID), r.Time, clean(r.Exchange), clean(r.Symbol), r.DataType, r.Source, clean(code), clean(r.Reason), payload, raw)
		},
	}).prepare()

	jobRuns = (&table[ops.JobRun]{
		name:    pgx.Identifier{"ops", "job_runs"},
		columns: []string{"id", "job", "exchange", "instance", "started_at", "finished_at", "outcome", "rows", "error"},
		key:     []string{"id", "started_at"},
		encode: func(j ops.JobRun, v []any) []any {
			return append(v, pgUUID(j.ID), j.Job, j.Exchange, j.Instance, j.Started, j.Finished, j.Outcome, j.Rows, optText(clean(j.Error)))
		},
	}).prepare()
)

// Decimals go to numeric columns as they are: decimalCodec encodes them,
// and an absent one is NULL.
func top(ls []market.Level) (market.Decimal, market.Decimal) {
	if len(ls) == 0 {
		return market.Decimal{}, market.Decimal{}
	}
	return ls[0].Price, ls[0].Amount
}

func levels(ls []market.Level) ([]market.Decimal, []market.Decimal) {
	p := make([]market.Decimal, len(ls))
	a := make([]market.Decimal, len(ls))
	for i, l := range ls {
		p[i], a[i] = l.Price, l.Amount
	}
	return p, a
}

func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

func optText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// clean makes free text storable: PostgreSQL text refuses NUL and invalid
// UTF-8. Only for ops text, never for market keys (those are rejected).
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// PostgreSQL's timestamptz range, minus a day of slack for time zones.
var (
	minTime = time.Date(-4712, 1, 2, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(294275, 12, 30, 0, 0, 0, 0, time.UTC)
)

func checkTime(t time.Time) error {
	switch {
	case t.IsZero():
		return errors.New("no timestamp")
	case t.Before(minTime) || t.After(maxTime):
		return fmt.Errorf("timestamp %s out of range", t.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkText(ss ...string) error {
	for _, s := range ss {
		if s == "" {
			return errors.New("empty key field")
		}
		if !plainASCII(s) && (!utf8.ValidString(s) || strings.ContainsRune(s, 0)) {
			return fmt.Errorf("text %q is not valid UTF-8 without NUL", s)
		}
	}
	return nil
}

// plainASCII reports whether s is ASCII without NUL, the usual key, in one
// loop: the two calls of the full test were most of a candle's guard.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// numeric's limits: 131072 digits before the point, 16383 after.
const (
	maxNumericInt  = 131072
	maxNumericFrac = 16383
)

func required(ds ...market.Decimal) error {
	for _, d := range ds {
		if !d.Valid() {
			return errors.New("missing value")
		}
		if len(d.String()) <= maxNumericFrac {
			continue // too short to break either limit
		}
		intPart, frac, _ := strings.Cut(strings.TrimPrefix(d.String(), "-"), ".")
		if len(intPart) > maxNumericInt || len(frac) > maxNumericFrac {
			return fmt.Errorf("value with %d digits before and %d after the point out of numeric's range", len(intPart), len(frac))
		}
	}
	return nil
}

// compareText compares bytes with a string bytewise, as Go orders strings,
// without converting either.
func compareText(b []byte, s string) int {
	for i := 0; i < len(b) && i < len(s); i++ {
		if b[i] != s[i] {
			return cmp.Compare(b[i], s[i])
		}
	}
	return cmp.Compare(len(b), len(s))
}

// cmpKeys combines column comparisons, first difference wins.
func cmpKeys(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// reject builds the ops.rejected_rows entry for a refused row.
func reject(exchange, symbol string, dt market.DataType, reason string, row any) ops.RejectedRow {
	payload, err := json.Marshal(row)
	if err != nil {
		payload = fmt.Appendf(nil, "%+v", row)
	}
	return ops.RejectedRow{Exchange: exchange, Symbol: symbol, DataType: string(dt), Source: "database", Code: ops.CodeDBRefused, Reason: reason, Payload: payload}
}
