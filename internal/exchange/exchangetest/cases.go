package exchangetest

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
)

// ErrNoAnswer is what CaseConfig's request-only fake answers: a connector
// call stops once its request is recorded.
var ErrNoAnswer = errors.New("exchangetest: no recorded response")

// CaseConfig drives ParityCases and RequestURLCases, the strict variant of
// Parity and RequestURLs: every compared field must agree or be justified,
// every URL must match, and the number of cases run is fixed.
type CaseConfig struct {
	// New builds the connector under test on the fake requester r.
	New func(r exchange.Requester) exchange.Connector
	// ParityNew, when set, replaces New in ParityCases: a case may need its
	// own clock.
	ParityNew func(c Case, r exchange.Requester) exchange.Connector
	// Justified maps a data type ("ticker", "tickers", "orderbook", "ohlcv",
	// "trades") to field keys that may differ from CCXT, with the reason.
	Justified map[string]map[string]string
	// NonSpot, when set, also feeds the non-spot cases without params
	// (swap recordings answered in the spot shape) through the connector,
	// their symbols stripped of the settle suffix, with these fields
	// justified on top of Justified.
	NonSpot map[string]string
	// SkipParity and SkipURL leave out more cases; nil leaves out none.
	SkipParity, SkipURL func(Case) bool
	// CallURL replaces CallCase in RequestURLCases when set.
	CallURL func(ctx context.Context, t *testing.T, conn exchange.Connector, c Case) error
	// ParityCases and URLCases are how many cases must run.
	ParityCases, URLCases int
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

// ParityCases feeds every recorded market-data response of the fixture
// through the connector and requires the fields we store to agree with
// CCXT's parsed output, and the request (when recorded) to match CCXT's. It
// logs the summary.
func ParityCases(t *testing.T, fx Fixture, cfg CaseConfig) {
	t.Helper()
	newConn := cfg.ParityNew
	if newConn == nil {
		newConn = func(_ Case, r exchange.Requester) exchange.Connector { return cfg.New(r) }
	}
	var sum Summary
	ran := 0
	for _, c := range fx.Cases {
		_, known := dataTypes[c.Method]
		if !c.HasResponse() || !known || c.Params() != nil || skipped(cfg.SkipParity, c) {
			continue
		}
		if !c.Spot() && cfg.NonSpot == nil {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := FuncRequester(func(exchange.Request) ([]byte, error) { return c.HTTPResponse, nil })
			r, dataType, err := CallCase(context.Background(), t, newConn(c, fake), c)
			require.NoError(t, err)
			just := maps.Clone(cfg.Justified[dataType])
			if !c.Spot() {
				if just == nil {
					just = map[string]string{}
				}
				maps.Copy(just, cfg.NonSpot)
			}
			bad := sum.Add(fx.Exchange, dataType, r, just)
			require.Empty(t, bad, "fields differing from CCXT")
			if c.HasRequest() {
				require.NoError(t, CompareURL(c.Request.URL, fake.Last().Path, fx.Files.Request.SkipKeys))
			}
			ran++
		})
	}
	require.Equal(t, cfg.ParityCases, ran, "recorded market-data cases")
	t.Log("\n" + sum.Markdown())
}

// RequestURLCases checks the path the connector builds against every spot
// request CCXT recorded, request-only cases included.
func RequestURLCases(t *testing.T, fx Fixture, cfg CaseConfig) {
	t.Helper()
	call := cfg.CallURL
	if call == nil {
		call = func(ctx context.Context, t *testing.T, conn exchange.Connector, c Case) error {
			_, _, err := CallCase(ctx, t, conn, c)
			return err
		}
	}
	checked := 0
	for _, c := range fx.Cases {
		_, known := dataTypes[c.Method]
		if !c.HasRequest() || !known || !c.Spot() || skipped(cfg.SkipURL, c) {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			fake := FuncRequester(func(exchange.Request) ([]byte, error) { return nil, ErrNoAnswer })
			require.ErrorIs(t, call(context.Background(), t, cfg.New(fake), c), ErrNoAnswer)
			require.NoError(t, CompareURL(c.Request.URL, fake.Last().Path, fx.Files.Request.SkipKeys))
			checked++
		})
	}
	require.Equal(t, cfg.URLCases, checked)
}
