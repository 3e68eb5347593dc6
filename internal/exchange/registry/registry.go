// Package registry is the one list of the exchanges mdingest has
// connectors for: each one's CCXT id, its Spec (real API, published
// limits, body check) and its constructor. Config validates ids against
// it, the daemon and the tests build connectors from it, and the replay's
// stand-ins are held to it by test. The list is explicit, not filled by
// init() registration.
//
// Adding an exchange takes its package, internal/exchange/<id> (<id>.go:
// ID, Spec, CheckBody and a Connector embedding exchange.Base; parse.go;
// trades.go where it pages trades; tests handing an exchangetest.Suite to
// parity, request URLs, conformance and fuzzing), its fixtures
// (testdata/exchanges/<id>.json as CCXT recorded it, testdata/replay/<id>/),
// its stand-in in internal/replay (<id>.go and its entry in definitions),
// and one line below. TestEveryExchangeHasItsParts checks that the parts are there.
package registry

import (
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/binance"
	"github.com/mdingest/mdingest/internal/exchange/bitstamp"
	"github.com/mdingest/mdingest/internal/exchange/bybit"
	"github.com/mdingest/mdingest/internal/exchange/coinbaseexchange"
	"github.com/mdingest/mdingest/internal/exchange/htx"
	"github.com/mdingest/mdingest/internal/exchange/kraken"
	"github.com/mdingest/mdingest/internal/exchange/kucoin"
	"github.com/mdingest/mdingest/internal/exchange/okx"
)

// Exchange is one registered exchange.
type Exchange struct {
	ID      string                                      // CCXT's id
	Spec    func() exchange.Spec                        // what the HTTP client needs
	New     func(exchange.Requester) exchange.Connector // the connector on a requester
	Enabled bool                                        // runs in the built-in configuration
}

// all is the registry, in the order exchanges are listed to users.
var all = []Exchange{
	{binance.ID, binance.Spec, conn(binance.New), true},
	{kraken.ID, kraken.Spec, conn(kraken.New), true},
	{kucoin.ID, kucoin.Spec, conn(kucoin.New), true},
	{htx.ID, htx.Spec, conn(htx.New), true},
	{okx.ID, okx.Spec, conn(okx.New), false},
	{bybit.ID, bybit.Spec, conn(bybit.New), false},
	{coinbaseexchange.ID, coinbaseexchange.Spec, conn(coinbaseexchange.New), false},
	{bitstamp.ID, bitstamp.Spec, conn(bitstamp.New), false},
}

// conn adapts a package's New, which returns its own connector type.
func conn[C exchange.Connector](newConn func(exchange.Requester) C) func(exchange.Requester) exchange.Connector {
	return func(r exchange.Requester) exchange.Connector { return newConn(r) }
}

// All returns every registered exchange, in listing order.
func All() []Exchange { return append([]Exchange(nil), all...) }

// IDs returns every registered exchange's id, in listing order.
func IDs() []string {
	ids := make([]string, len(all))
	for i, e := range all {
		ids[i] = e.ID
	}
	return ids
}

// Lookup finds an exchange by id.
func Lookup(id string) (Exchange, bool) {
	for _, e := range all {
		if e.ID == id {
			return e, true
		}
	}
	return Exchange{}, false
}
