package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// ErrNoAnswer is what the request-only fake of RequestURLs answers: a
// connector call stops once its request is recorded.
var ErrNoAnswer = errors.New("exchangetest: no recorded response")

// Suite is what one connector's tests hand to the checks every connector
// passes: parity with CCXT's recorded cases (Parity), the request URLs
// CCXT recorded (RequestURLs), the conformance suite (Conformance) over
// recorded routes, and the fuzzing of its parsers (Fuzz). What differs
// between exchanges is data here; the connector's own tests keep only what
// is particular to it.
type Suite struct {
	// Exchange is the connector's id, naming its CCXT fixture.
	Exchange string
	// New builds the connector under test on the fake requester r.
	New func(r exchange.Requester) exchange.Connector
	// ParityNew, when set, replaces New in Parity: a case may need its
	// own clock.
	ParityNew func(c Case, r exchange.Requester) exchange.Connector

	// Routes are the answers of Fake, by path prefix: a recorded response
	// for Symbol on every endpoint, markets included. Each names a file of
	// the package's testdata ("markets.json") or a fixture case by its
	// Case.Name ("fetchTicker/public spot ticker").
	Routes map[string]string
	// Symbol is a symbol the routes answer for and the markets route lists.
	Symbol market.Symbol
	// Depth requested from OrderBook in Conformance; 0 uses 5.
	Depth int
	// SharedRoutes are the prefixes of Routes that the parity and URL
	// fakes answer too (a market list the connector needs to map ids).
	SharedRoutes []string

	// Justified maps a data type ("ticker", "tickers", "orderbook", "ohlcv",
	// "trades") to field keys that may differ from CCXT, with the reason.
	Justified map[string]map[string]string
	// NonSpot also feeds the non-spot cases without params (swap
	// recordings answered in the spot shape) through the connector, their
	// symbols stripped of the settle suffix, which justifies the symbol.
	NonSpot bool
	// URLJustified maps a case description to the reason our request URL
	// differs from CCXT's; such a difference is logged, not failed.
	URLJustified map[string]string
	// SkipParity and SkipURL leave out more cases; nil leaves out none.
	SkipParity, SkipURL func(Case) bool
	// CallURL replaces CallCase in RequestURLs when set.
	CallURL func(ctx context.Context, t *testing.T, conn exchange.Connector, c Case) error
	// ParityCases and URLCases are how many cases must run.
	ParityCases, URLCases int

	// Parsers are the connector's parsers that Fuzz feeds.
	Parsers FuzzConfig
}

// Fixture is the exchange's CCXT fixture.
func (s Suite) Fixture(t testing.TB) Fixture { return LoadFixture(t, s.Exchange) }

// Fake is a requester answering from Routes.
func (s Suite) Fake(t testing.TB) *Requester {
	t.Helper()
	return NewRequester(s.routes(t, s.Fixture(t), slices.Collect(maps.Keys(s.Routes))))
}

// routes reads the bodies of the named Routes.
func (s Suite) routes(t testing.TB, fx Fixture, prefixes []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(prefixes))
	for _, p := range prefixes {
		src := s.Routes[p]
		if strings.HasSuffix(src, ".json") {
			out[p] = ReadTestdata(t, src)
			continue
		}
		method, desc, _ := strings.Cut(src, "/")
		out[p] = fx.Response(t, method, desc)
	}
	return out
}

// Conformance runs the conformance suite (Run) on a connector built on Fake.
func (s Suite) Conformance(t *testing.T) {
	t.Helper()
	fake := s.Fake(t)
	Run(t, s.New(fake), fake, Config{Symbol: s.Symbol, Depth: s.Depth})
}

// caseFake answers the shared routes, and everything else with fn.
func (s Suite) caseFake(t testing.TB, fx Fixture, fn func(exchange.Request) ([]byte, error)) *Requester {
	r := FuncRequester(fn)
	for p, body := range s.routes(t, fx, s.SharedRoutes) {
		r.Handle(p, []byte(body))
	}
	return r
}

// checkURL compares the request the connector sent with CCXT's.
func (s Suite) checkURL(t *testing.T, fx Fixture, c Case, got string) {
	t.Helper()
	err := CompareURL(c.Request.URL, got, fx.Files.Request.SkipKeys)
	if why := s.URLJustified[c.Description]; err != nil && why != "" {
		t.Logf("%v (justified: %s)", err, why)
		return
	}
	require.NoError(t, err)
}

var dataTypes = map[string]string{
	"fetchTicker":    "ticker",
	"fetchTickers":   "tickers",
	"fetchOrderBook": "orderbook",
	"fetchOHLCV":     "ohlcv",
	"fetchTrades":    "trades",
}

// supported reports whether the case asks for something the Connector
// contract has: OHLCV cases in other timeframes (1M, 1w) are CCXT's only.
func (c Case) supported() bool {
	if _, ok := dataTypes[c.Method]; !ok {
		return false
	}
	if c.Method != "fetchOHLCV" {
		return true
	}
	_, err := market.ParseTimeframe(string(c.Timeframe()))
	return err == nil
}

// spotSymbols parses the case's symbols, stripping CCXT's settle suffix.
func spotSymbols(t testing.TB, c Case) []market.Symbol {
	t.Helper()
	var out []market.Symbol
	for _, s := range c.Symbols() {
		s, _, _ = strings.Cut(s, ":")
		sym, err := market.ParseSymbol(s)
		require.NoError(t, err)
		out = append(out, sym)
	}
	return out
}

// CallCase performs the connector call of a market-data case and compares
// the result with CCXT's parsed response. It returns the data type
// compared; ErrUnsupported for other methods.
func CallCase(ctx context.Context, t *testing.T, conn exchange.Connector, c Case) (Result, string, error) {
	t.Helper()
	syms := spotSymbols(t, c)
	switch c.Method {
	case "fetchTicker":
		ts, err := conn.Tickers(ctx, syms[:1])
		if err != nil {
			return Result{}, "ticker", err
		}
		if len(ts) != 1 {
			return Result{}, "ticker", fmt.Errorf("want one ticker, got %d", len(ts))
		}
		r, err := CompareTicker(c.ParsedResponse, ts[0])
		return r, "ticker", err
	case "fetchTickers":
		ts, err := conn.Tickers(ctx, syms)
		if err != nil {
			return Result{}, "tickers", err
		}
		r, err := CompareTickers(c.ParsedResponse, ts)
		return r, "tickers", err
	case "fetchOrderBook":
		b, err := conn.OrderBook(ctx, syms[0], c.Limit())
		if err != nil {
			return Result{}, "orderbook", err
		}
		r, err := CompareOrderBook(c.ParsedResponse, b)
		return r, "orderbook", err
	case "fetchTrades":
		ts, err := conn.Trades(ctx, syms[0], c.Since(), c.Limit())
		if err != nil {
			return Result{}, "trades", err
		}
		r, err := CompareTrades(c.ParsedResponse, ts)
		return r, "trades", err
	case "fetchOHLCV":
		cs, err := conn.OHLCV(ctx, syms[0], c.Timeframe(), c.Since(), c.Limit())
		if err != nil {
			return Result{}, "ohlcv", err
		}
		r, err := CompareOHLCV(c.ParsedResponse, cs)
		return r, "ohlcv", err
	}
	return Result{}, "", exchange.ErrUnsupported
}

func skipped(skip func(Case) bool, c Case) bool { return skip != nil && skip(c) }

// Parity feeds every recorded market-data response of the fixture through
// the connector and requires the fields we store to agree with CCXT's
// parsed output, and the request (when recorded) to match CCXT's. It logs
// the summary, the parity table of the README.
func (s Suite) Parity(t *testing.T) {
	t.Helper()
	newConn := s.ParityNew
	if newConn == nil {
		newConn = func(_ Case, r exchange.Requester) exchange.Connector { return s.New(r) }
	}
	fx := s.Fixture(t)
	var sum Summary
	ran := 0
	for _, c := range fx.Cases {
		if !c.HasResponse() || !c.supported() || c.Params() != nil || skipped(s.SkipParity, c) {
			continue
		}
		if !c.Spot() && !s.NonSpot {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := s.caseFake(t, fx, func(exchange.Request) ([]byte, error) { return c.HTTPResponse, nil })
			r, dataType, err := CallCase(context.Background(), t, newConn(c, fake), c)
			require.NoError(t, err)
			just := maps.Clone(s.Justified[dataType])
			if !c.Spot() {
				if just == nil {
					just = map[string]string{}
				}
				just["symbol"] = "swap case fed through the spot connector as the spot symbol; every other field is compared"
			}
			bad := sum.Add(fx.Exchange, dataType, r, just)
			require.Empty(t, bad, "fields differing from CCXT")
			if c.HasRequest() {
				s.checkURL(t, fx, c, fake.Last().Path)
			}
			ran++
		})
	}
	require.Equal(t, s.ParityCases, ran, "recorded market-data cases")
	t.Log("\n" + sum.Markdown())
}

// RequestURLs checks the path the connector builds against every spot
// request CCXT recorded, request-only cases included.
func (s Suite) RequestURLs(t *testing.T) {
	t.Helper()
	call := s.CallURL
	if call == nil {
		call = func(ctx context.Context, t *testing.T, conn exchange.Connector, c Case) error {
			_, _, err := CallCase(ctx, t, conn, c)
			return err
		}
	}
	fx := s.Fixture(t)
	checked := 0
	for _, c := range fx.Cases {
		if !c.HasRequest() || !c.supported() || !c.Spot() || skipped(s.SkipURL, c) {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := s.caseFake(t, fx, func(exchange.Request) ([]byte, error) { return nil, ErrNoAnswer })
			require.ErrorIs(t, call(context.Background(), t, s.New(fake), c), ErrNoAnswer)
			s.checkURL(t, fx, c, fake.Last().Path)
			checked++
		})
	}
	require.Equal(t, s.URLCases, checked)
}
