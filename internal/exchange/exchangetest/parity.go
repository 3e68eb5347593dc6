package exchangetest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Field is the comparison of one stored field with CCXT's parsed value.
type Field struct {
	Path  string // e.g. "bids[0].price"
	Key   string // the leaf name, e.g. "price"; justifications match on it
	Want  string // CCXT's JSON value
	Got   string // ours, in the same notation
	Agree bool
	// Rounded is set when the values agree only after rounding ours to the
	// nearest float64: CCXT holds numbers as doubles and cannot say more.
	Rounded bool
}

// Result is the field-by-field comparison of one case.
type Result struct {
	Case   string
	Fields []Field
}

func (r *Result) add(f Field) {
	if i := strings.LastIndexByte(f.Path, '.'); i >= 0 {
		f.Key = f.Path[i+1:]
	} else {
		f.Key = f.Path
	}
	r.Fields = append(r.Fields, f)
}

func (r *Result) decimal(path string, want json.RawMessage, got market.Decimal) {
	f := Field{Path: path, Want: rawText(want), Got: got.String()}
	switch {
	case isNull(want) || f.Want == "":
		f.Agree = !got.Valid()
		f.Want = "null"
	case !got.Valid():
		f.Got = "null"
	default:
		text := strings.Trim(f.Want, `"`)
		w, ok := new(big.Rat).SetString(text)
		if !ok {
			break
		}
		if w.Cmp(got.Rat()) == 0 {
			f.Agree = true
			break
		}
		wf, err1 := strconv.ParseFloat(text, 64)
		gf, err2 := strconv.ParseFloat(got.String(), 64)
		if err1 == nil && err2 == nil && wf == gf {
			f.Agree, f.Rounded = true, true
		}
	}
	r.add(f)
}

func (r *Result) millis(path string, want json.RawMessage, got time.Time) {
	f := Field{Path: path, Want: rawText(want), Got: "null"}
	if !got.IsZero() {
		f.Got = strconv.FormatInt(got.UnixMilli(), 10)
	}
	if isNull(want) {
		f.Want = "null"
	}
	f.Agree = strings.Trim(f.Want, `"`) == f.Got
	r.add(f)
}

func (r *Result) str(path string, want json.RawMessage, got string) {
	f := Field{Path: path, Want: "null", Got: got}
	if !isNull(want) {
		var s string
		if json.Unmarshal(want, &s) == nil {
			f.Want = s
		} else {
			f.Want = rawText(want) // CCXT sometimes keeps numeric ids as numbers
		}
	}
	if got == "" {
		f.Got = "null"
	}
	f.Agree = f.Want == f.Got
	r.add(f)
}

func (r *Result) integer(path string, want json.RawMessage, got int64, present bool) {
	f := Field{Path: path, Want: "null", Got: "null"}
	if !isNull(want) {
		f.Want = strings.Trim(rawText(want), `"`)
	}
	if present {
		f.Got = strconv.FormatInt(got, 10)
	}
	f.Agree = f.Want == f.Got
	r.add(f)
}

func rawText(b json.RawMessage) string { return strings.TrimSpace(string(b)) }

func decodeObject(b json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsedResponse is not an object: %w", err)
	}
	return m, nil
}

// tickerFields are the ticker fields we store, CCXT name first.
var tickerFields = []struct {
	name string
	get  func(market.Ticker) market.Decimal
}{
	{"bid", func(t market.Ticker) market.Decimal { return t.Bid }},
	{"bidVolume", func(t market.Ticker) market.Decimal { return t.BidVolume }},
	{"ask", func(t market.Ticker) market.Decimal { return t.Ask }},
	{"askVolume", func(t market.Ticker) market.Decimal { return t.AskVolume }},
	{"last", func(t market.Ticker) market.Decimal { return t.Last }},
	{"open", func(t market.Ticker) market.Decimal { return t.Open }},
	{"high", func(t market.Ticker) market.Decimal { return t.High }},
	{"low", func(t market.Ticker) market.Decimal { return t.Low }},
	{"close", func(t market.Ticker) market.Decimal { return t.Close }},
	{"vwap", func(t market.Ticker) market.Decimal { return t.VWAP }},
	{"baseVolume", func(t market.Ticker) market.Decimal { return t.BaseVolume }},
	{"quoteVolume", func(t market.Ticker) market.Decimal { return t.QuoteVolume }},
}

// CompareTicker compares a CCXT ticker with ours.
func CompareTicker(parsed json.RawMessage, got market.Ticker) (Result, error) {
	var r Result
	return r, r.ticker("", parsed, got)
}

func (r *Result) ticker(prefix string, parsed json.RawMessage, got market.Ticker) error {
	m, err := decodeObject(parsed)
	if err != nil {
		return err
	}
	r.str(prefix+"symbol", m["symbol"], string(got.Symbol))
	r.millis(prefix+"timestamp", m["timestamp"], got.Time)
	for _, f := range tickerFields {
		r.decimal(prefix+f.name, m[f.name], f.get(got))
	}
	return nil
}

// CompareTickers compares CCXT's fetchTickers result (an object keyed by
// symbol) with ours; a ticker missing on either side is a mismatch.
func CompareTickers(parsed json.RawMessage, got []market.Ticker) (Result, error) {
	var r Result
	m, err := decodeObject(parsed)
	if err != nil {
		return r, err
	}
	bySym := make(map[string]market.Ticker, len(got))
	for _, t := range got {
		bySym[string(t.Symbol)] = t
	}
	r.integer("count", json.RawMessage(strconv.Itoa(len(m))), int64(len(got)), true)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, ok := bySym[k]
		if !ok {
			r.add(Field{Path: k, Want: "ticker", Got: "null"})
			continue
		}
		if err := r.ticker(k+".", m[k], t); err != nil {
			return r, err
		}
	}
	return r, nil
}

// CompareOrderBook compares a CCXT order book with ours, level by level.
func CompareOrderBook(parsed json.RawMessage, got market.OrderBook) (Result, error) {
	var r Result
	m, err := decodeObject(parsed)
	if err != nil {
		return r, err
	}
	r.str("symbol", m["symbol"], string(got.Symbol))
	r.millis("timestamp", m["timestamp"], got.Time)
	r.integer("nonce", m["nonce"], got.Nonce, got.Nonce != 0)
	for _, side := range []struct {
		name   string
		levels []market.Level
	}{{"bids", got.Bids}, {"asks", got.Asks}} {
		var want [][]json.RawMessage
		if err := json.Unmarshal(m[side.name], &want); err != nil {
			return r, fmt.Errorf("decoding %s: %w", side.name, err)
		}
		r.integer(side.name+".count", json.RawMessage(strconv.Itoa(len(want))), int64(len(side.levels)), true)
		for i := 0; i < len(want) && i < len(side.levels); i++ {
			if len(want[i]) < 2 {
				return r, fmt.Errorf("%s[%d]: want [price, amount]", side.name, i)
			}
			r.decimal(fmt.Sprintf("%s[%d].price", side.name, i), want[i][0], side.levels[i].Price)
			r.decimal(fmt.Sprintf("%s[%d].amount", side.name, i), want[i][1], side.levels[i].Amount)
		}
	}
	return r, nil
}

// CompareOHLCV compares CCXT's [[ts, o, h, l, c, v], ...] with our candles.
func CompareOHLCV(parsed json.RawMessage, got []market.Candle) (Result, error) {
	var r Result
	var want [][]json.RawMessage
	if err := json.Unmarshal(parsed, &want); err != nil {
		return r, fmt.Errorf("decoding candles: %w", err)
	}
	r.integer("count", json.RawMessage(strconv.Itoa(len(want))), int64(len(got)), true)
	for i := 0; i < len(want) && i < len(got); i++ {
		w, c := want[i], got[i]
		if len(w) < 6 {
			return r, fmt.Errorf("candle %d: want 6 values, have %d", i, len(w))
		}
		p := fmt.Sprintf("[%d].", i)
		r.millis(p+"timestamp", w[0], c.Time)
		r.decimal(p+"open", w[1], c.Open)
		r.decimal(p+"high", w[2], c.High)
		r.decimal(p+"low", w[3], c.Low)
		r.decimal(p+"close", w[4], c.Close)
		r.decimal(p+"volume", w[5], c.Volume)
	}
	return r, nil
}

// CompareTrades compares CCXT's trade list with ours, in order.
func CompareTrades(parsed json.RawMessage, got []market.Trade) (Result, error) {
	var r Result
	var want []map[string]json.RawMessage
	if err := json.Unmarshal(parsed, &want); err != nil {
		return r, fmt.Errorf("decoding trades: %w", err)
	}
	r.integer("count", json.RawMessage(strconv.Itoa(len(want))), int64(len(got)), true)
	for i := 0; i < len(want) && i < len(got); i++ {
		w, t := want[i], got[i]
		p := fmt.Sprintf("[%d].", i)
		r.str(p+"id", w["id"], t.ID)
		r.str(p+"symbol", w["symbol"], string(t.Symbol))
		r.millis(p+"timestamp", w["timestamp"], t.Time)
		r.str(p+"side", w["side"], string(t.Side))
		r.decimal(p+"price", w["price"], t.Price)
		r.decimal(p+"amount", w["amount"], t.Amount)
		r.decimal(p+"cost", w["cost"], t.Cost())
	}
	return r, nil
}

// Row is one exchange x data type line of the parity table.
type Row struct {
	Exchange  string
	DataType  string
	Cases     int
	Fields    int // fields compared
	Agreed    int // equal to CCXT (exactly, or as CCXT's double)
	Rounded   int // of Agreed, equal only as a double
	Justified int // differing for a documented reason
}

// Summary accumulates parity results into a table.
type Summary struct {
	rows []*Row
}

// Add records one case. justified maps a field key (Field.Key) to the reason
// it may differ; the unjustified mismatches are returned for the test to fail on.
func (s *Summary) Add(exchange, dataType string, r Result, justified map[string]string) []Field {
	var row *Row
	for _, x := range s.rows {
		if x.Exchange == exchange && x.DataType == dataType {
			row = x
		}
	}
	if row == nil {
		row = &Row{Exchange: exchange, DataType: dataType}
		s.rows = append(s.rows, row)
	}
	row.Cases++
	var bad []Field
	for _, f := range r.Fields {
		row.Fields++
		switch {
		case f.Agree:
			row.Agreed++
			if f.Rounded {
				row.Rounded++
			}
		case justified[f.Key] != "":
			row.Justified++
		default:
			bad = append(bad, f)
		}
	}
	return bad
}

// Rows returns the table's rows in the order they were first added.
func (s *Summary) Rows() []Row {
	out := make([]Row, len(s.rows))
	for i, r := range s.rows {
		out[i] = *r
	}
	return out
}

// Markdown renders the table for the README.
func (s *Summary) Markdown() string {
	var b strings.Builder
	b.WriteString("| exchange | data type | cases | fields compared | agreed | of which as double | justified differences |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d |\n",
			r.Exchange, r.DataType, r.Cases, r.Fields, r.Agreed, r.Rounded, r.Justified)
	}
	return b.String()
}
