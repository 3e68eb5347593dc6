package exchangetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// ParityConfig drives Parity and RequestURLs over an exchange's fixture file.
type ParityConfig struct {
	// New builds the connector under test on a fake requester.
	New func(r exchange.Requester) exchange.Connector
	// Routes answer requests other than the case's own (e.g. Kraken's
	// AssetPairs, needed to map symbols); path prefix -> body.
	Routes map[string]string
	// Justified maps a data type ("ticker", "tickers", "orderbook", "ohlcv",
	// "trades") to field keys that may differ from CCXT, with the reason.
	Justified map[string]map[string]string
	// URLJustified maps a case description to the reason our request URL
	// differs from CCXT's.
	URLJustified map[string]string
	// ExtraSkipKeys are query keys ignored on top of the fixture's skipKeys.
	ExtraSkipKeys []string
}

var dataTypes = map[string]string{
	"fetchTicker":    "ticker",
	"fetchTickers":   "tickers",
	"fetchOrderBook": "orderbook",
	"fetchOHLCV":     "ohlcv",
	"fetchTrades":    "trades",
}

func (cfg ParityConfig) fake(body []byte) *Requester {
	r := FuncRequester(func(exchange.Request) ([]byte, error) { return body, nil })
	for p, b := range cfg.Routes {
		r.Handle(p, []byte(b))
	}
	return r
}

// call runs the connector method matching the case and compares the result
// with CCXT's parsed response when there is one.
func call(t *testing.T, conn exchange.Connector, c Case) (Result, error) {
	ctx := context.Background()
	switch c.Method {
	case "fetchTicker":
		ts, err := conn.Tickers(ctx, []market.Symbol{c.Symbol(t)})
		if err != nil {
			return Result{}, err
		}
		if len(ts) != 1 {
			return Result{}, fmt.Errorf("want one ticker, got %d", len(ts))
		}
		return CompareTicker(c.ParsedResponse, ts[0])
	case "fetchTickers":
		ts, err := conn.Tickers(ctx, c.MarketSymbols(t))
		if err != nil {
			return Result{}, err
		}
		return CompareTickers(c.ParsedResponse, ts)
	case "fetchOrderBook":
		b, err := conn.OrderBook(ctx, c.Symbol(t), c.Limit())
		if err != nil {
			return Result{}, err
		}
		return CompareOrderBook(c.ParsedResponse, b)
	case "fetchOHLCV":
		cs, err := conn.OHLCV(ctx, c.Symbol(t), c.Timeframe(), c.Since(), c.Limit())
		if err != nil {
			return Result{}, err
		}
		return CompareOHLCV(c.ParsedResponse, cs)
	case "fetchTrades":
		ts, err := conn.Trades(ctx, c.Symbol(t), c.Since(), c.Limit())
		if err != nil {
			return Result{}, err
		}
		return CompareTrades(c.ParsedResponse, ts)
	}
	return Result{}, fmt.Errorf("method %s not handled", c.Method)
}

// Parity feeds every spot case of the fixture that has a recorded response
// through the connector and compares the result with CCXT's, field by
// field. It fails the test on unjustified differences and adds every case
// to sum.
func Parity(t *testing.T, f Fixture, cfg ParityConfig, sum *Summary) {
	t.Helper()
	for _, c := range f.Cases {
		dt, ok := dataTypes[c.Method]
		if !ok || !c.Spot() || !c.HasResponse() || !c.supported() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			conn := cfg.New(cfg.fake(c.HTTPResponse))
			res, err := call(t, conn, c)
			if err != nil {
				t.Fatalf("%s: %v", c.Name(), err)
			}
			res.Case = c.Name()
			for _, bad := range sum.Add(f.Exchange, dt, res, cfg.Justified[dt]) {
				t.Errorf("%s: %s = %s, CCXT has %s", c.Name(), bad.Path, bad.Got, bad.Want)
			}
		})
	}
}

// RequestURLs checks, for every spot case with a URL recorded by CCXT, that
// the connector requests the same path and query (ignoring skip keys). A
// request-only case is answered with an empty JSON value: only the request
// matters. It returns how many URLs were compared and how many agreed.
func RequestURLs(t *testing.T, f Fixture, cfg ParityConfig) (compared, agreed int) {
	t.Helper()
	skip := f.WithSkipKeys(cfg.ExtraSkipKeys...)
	for _, c := range f.Cases {
		if _, ok := dataTypes[c.Method]; !ok || !c.Spot() || !c.HasRequest() || !c.supported() {
			continue
		}
		body := []byte(c.HTTPResponse)
		if !c.HasResponse() {
			body = []byte("{}")
		}
		fake := cfg.fake(body)
		_, _ = call(t, cfg.New(fake), c) // only the request matters here
		last := fake.Last()
		compared++
		err := CompareURL(c.Request.URL, last.Path, skip)
		switch {
		case err == nil:
			agreed++
		case cfg.URLJustified[c.Description] != "":
			t.Logf("%s: %v (justified: %s)", c.Name(), err, cfg.URLJustified[c.Description])
		default:
			t.Errorf("%s: %v", c.Name(), err)
		}
	}
	return compared, agreed
}

// ParityRows runs Parity over the exchange's fixture and returns the rows
// of its parity table, which it logs for the README.
func ParityRows(t *testing.T, exchange string, cfg ParityConfig) []Row {
	t.Helper()
	var sum Summary
	Parity(t, LoadFixture(t, exchange), cfg, &sum)
	t.Logf("CCXT parity\n%s", sum.Markdown())
	return sum.Rows()
}

// CheckRequestURLs runs RequestURLs over the exchange's fixture; at least
// one URL must be compared.
func CheckRequestURLs(t *testing.T, exchange string, cfg ParityConfig) {
	t.Helper()
	compared, agreed := RequestURLs(t, LoadFixture(t, exchange), cfg)
	if compared == 0 {
		t.Fatalf("%s: no request URL compared", exchange)
	}
	t.Logf("request URLs: %d compared, %d agreed", compared, agreed)
}

// supported reports whether the case asks for something the Connector
// contract has: OHLCV cases in other timeframes (1M, 1w) are CCXT's only.
func (c Case) supported() bool {
	if c.Method != "fetchOHLCV" {
		return true
	}
	_, err := market.ParseTimeframe(string(c.Timeframe()))
	return err == nil
}
