package replay

import (
	"fmt"
	"time"
)

// TradesBetween counts the derived trades the symbol made on the exchange
// with times in [from, to]: every trade that happened, served or not. Tests
// and benchmarks divide what a client kept by it.
func (h *Handler) TradesBetween(exchange, sym string, from, to time.Time) (int64, error) {
	x, ok := h.exchanges[exchange]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownExchange, exchange)
	}
	s, err := parseSymbol(sym)
	if err != nil {
		return 0, err
	}
	ser, ok := x.series[s]
	if !ok {
		return 0, fmt.Errorf("%w %q: not served on %s", ErrBadSymbol, sym, exchange)
	}
	if to.Before(from) {
		return 0, nil
	}
	return max(0, ser.lastTrade(to.UnixMicro())-ser.firstTrade(from.UnixMicro())+1), nil
}
