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
		cmp: func(a, b market.Candle) int {
			return cmpKeys(cmp.Compare(a.Exchange, b.Exchange), cmp.Compare(a.Symbol, b.Symbol),
				cmp.Compare(a.Timeframe, b.Timeframe), a.Time.Compare(b.Time))
		},
		encode: func(c market.Candle, v []any) []any {
			return append(v, c.Exchange, string(c.Symbol), string(c.Timeframe), c.Time,
				c.Open, c.High, c.Low, c.Close, c.Volume, c.Closed)
		},
		check: func(c market.Candle) error {
			return firstErr(checkText(c.Exchange, string(c.Symbol), string(c.Timeframe)), checkTime(c.Time),
				required(c.Open, c.High, c.Low, c.Close, c.Volume))
		},
		reject: func(c market.Candle, reason string) RejectedRow {
			return reject(c.Exchange, string(c.Symbol), market.TypeOHLCV, reason,
				map[string]any{"timeframe": c.Timeframe, "closed": c.Closed, "ohlcv": c})
		},
	}).prepare()

	tickers = (&table[market.Ticker]{
		name: pgx.Identifier{"market", "tickers"},
		columns: []string{"exchange", "symbol", "ts", "bid", "bid_volume", "ask", "ask_volume", "last",
			"open", "high", "low", "close", "vwap", "base_volume", "quote_volume"},
		key: []string{"exchange", "symbol", "ts"},
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
		reject: func(t market.Ticker, reason string) RejectedRow {
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
		reject: func(b market.OrderBook, reason string) RejectedRow {
			return reject(b.Exchange, string(b.Symbol), market.TypeOrderBook, reason, b)
		},
	}).prepare()

	trades = (&table[market.Trade]{
		name:    pgx.Identifier{"market", "trades"},
		columns: []string{"exchange", "symbol", "ts", "trade_id", "price", "amount", "side"},
		key:     []string{"exchange", "symbol", "trade_id", "ts"},
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
		check: func(t market.Trade) error {
			if t.ID == "" {
				return errors.New("trade without id")
			}
			return firstErr(checkText(t.Exchange, string(t.Symbol), t.ID), checkTime(t.Time), required(t.Price, t.Amount))
		},
		reject: func(t market.Trade, reason string) RejectedRow {
			return reject(t.Exchange, string(t.Symbol), market.TypeTrades, reason, t)
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
		reject: func(m market.Market, reason string) RejectedRow {
			return reject(m.Exchange, string(m.Symbol), market.TypeMarkets, reason, m)
		},
	}).prepare()

	requestMetrics = (&table[RequestMetric]{
		name:    pgx.Identifier{"ops", "request_metrics"},
		columns: []string{"id", "ts", "exchange", "endpoint", "http_status", "latency_ms", "attempt", "outcome", "error_category"},
		key:     []string{"id", "ts"},
		encode: func(m RequestMetric, v []any) []any {
			var status pgtype.Int4
			if m.HTTPStatus != 0 {
				status = pgtype.Int4{Int32: int32(m.HTTPStatus), Valid: true}
			}
			return append(v, pgUUID(m.ID), m.Time, m.Exchange, m.Endpoint, status,
				float64(m.Latency)/float64(time.Millisecond), int32(m.Attempt), m.Outcome, optText(m.ErrorCategory))
		},
	}).prepare()

	qualityReports = (&table[QualityReport]{
		name: pgx.Identifier{"ops", "quality_reports"},
		columns: []string{"id", "ts", "exchange", "symbol", "data_type", "rows_total", "rows_rejected",
			"completeness", "accuracy", "consistency", "timeliness", "validity", "uniqueness", "score", "passed", "issues"},
		key: []string{"id", "ts"},
		encode: func(q QualityReport, v []any) []any {
			issues := q.Issues
			if len(issues) == 0 {
				issues = []byte("[]")
			}
			return append(v, pgUUID(q.ID), q.Time, q.Exchange, q.Symbol, q.DataType, int32(q.RowsTotal), int32(q.RowsRejected),
				q.Completeness, q.Accuracy, q.Consistency, q.Timeliness, q.Validity, q.Uniqueness, q.Score, q.Passed, issues)
		},
	}).prepare()

	rejectedRows = (&table[RejectedRow]{
		name:    pgx.Identifier{"ops", "rejected_rows"},
		columns: []string{"id", "ts", "exchange", "symbol", "data_type", "source", "reason", "payload", "raw"},
		key:     []string{"id", "ts"},
		encode: func(r RejectedRow, v []any) []any {
			// jsonb refuses invalid JSON and \u0000; such payloads stay raw.
			var payload, raw any
			if json.Valid(r.Payload) && !bytes.Contains(r.Payload, []byte(`\u0000`)) {
				payload = r.Payload
			} else {
				raw = r.Payload
			}
			return append(v, pgUUID(r.ID), r.Time, clean(r.Exchange), clean(r.Symbol), r.DataType, r.Source, clean(r.Reason), payload, raw)
		},
	}).prepare()

	jobRuns = (&table[JobRun]{
		name:    pgx.Identifier{"ops", "job_runs"},
		columns: []string{"id", "job", "exchange", "instance", "started_at", "finished_at", "outcome", "rows", "error"},
		key:     []string{"id", "started_at"},
		encode: func(j JobRun, v []any) []any {
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
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return fmt.Errorf("text %q is not valid UTF-8 without NUL", s)
		}
	}
	return nil
}

func required(ds ...market.Decimal) error {
	for _, d := range ds {
		if !d.Valid() {
			return errors.New("missing value")
		}
	}
	return nil
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
func reject(exchange, symbol string, dt market.DataType, reason string, row any) RejectedRow {
	payload, err := json.Marshal(row)
	if err != nil {
		payload = fmt.Appendf(nil, "%+v", row)
	}
	return RejectedRow{Exchange: exchange, Symbol: symbol, DataType: string(dt), Source: "database", Reason: reason, Payload: payload}
}
