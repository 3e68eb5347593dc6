package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

type fetchFlags struct {
	exchange, symbol, kind, timeframe string
	limit, depth                      int
	store                             bool
}

var fetchF fetchFlags

// maxFetchLimit bounds --limit: more than any exchange returns in one page.
const maxFetchLimit = 100_000

func init() {
	register(&command{
		name:    "fetch",
		summary: "one request; prints the normalised result as CCXT-shaped JSON (--store also stores it)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&fetchF.exchange, "exchange", "", "exchange id, e.g. binance (required)")
			fs.StringVar(&fetchF.symbol, "symbol", "", "unified symbol, e.g. BTC/USDT (required except for markets)")
			fs.StringVar(&fetchF.kind, "kind", "ticker", "markets, ticker, orderbook, ohlcv or trades")
			fs.StringVar(&fetchF.timeframe, "timeframe", "1m", "candle timeframe for ohlcv")
			fs.IntVar(&fetchF.limit, "limit", 0, "candles or trades to fetch (0: the exchange's default)")
			fs.IntVar(&fetchF.depth, "depth", 0, "order-book depth (0: the exchange's default)")
			fs.BoolVar(&fetchF.store, "store", false, "also store the result in the database")
		},
		run: runFetch,
	})
}

func runFetch(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	f := fetchF
	if len(args) > 0 {
		return usagef("fetch takes no arguments, got %q", args[0])
	}
	if err := parseExchange(f.exchange); err != nil {
		return err
	}
	kind, err := market.ParseDataType(f.kind)
	if err != nil {
		return usagef("--kind: %v", err)
	}
	var sym market.Symbol
	if kind != market.TypeMarkets {
		if f.symbol == "" {
			return usagef("--symbol is required for --kind %s", kind)
		}
		if sym, err = market.ParseSymbol(f.symbol); err != nil {
			return usagef("--symbol: %v", err)
		}
	}
	tf, err := market.ParseTimeframe(f.timeframe)
	if err != nil {
		return usagef("--timeframe: %v", err)
	}
	if f.limit < 0 || f.limit > maxFetchLimit {
		return usagef("--limit: want 0 to %d, got %d", maxFetchLimit, f.limit)
	}
	if f.depth < 0 || f.depth > config.MaxDepth {
		return usagef("--depth: want 0 to %d, got %d", config.MaxDepth, f.depth)
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	var st *store.Store
	var attempts []store.RequestMetric
	deps := daemon.ClientDeps{Logger: e.logger}
	if f.store {
		if st, err = openStore(ctx, e, cfg); err != nil {
			return err
		}
		defer st.Close()
		deps.Observer = requestMetricsInto(&attempts)
	}
	c, err := daemon.NewClient(cfg, f.exchange, deps)
	if err != nil {
		return err
	}
	defer c.HTTP.Close()

	var out any
	// Each kind fetches and says how to store what it got.
	var save func() (store.Result, error)
	switch kind {
	case market.TypeMarkets:
		ms, err := c.Markets(ctx)
		if err != nil {
			return err
		}
		out, save = ms, func() (store.Result, error) { return st.Markets(ctx, ms) }
	case market.TypeTicker:
		ts, err := c.Tickers(ctx, []market.Symbol{sym})
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fmt.Errorf("%s returned no ticker for %s", f.exchange, sym)
		}
		out, save = ts[0], func() (store.Result, error) { return st.Tickers(ctx, ts[:1]) }
	case market.TypeOrderBook:
		b, err := c.OrderBook(ctx, sym, f.depth)
		if err != nil {
			return err
		}
		out, save = b, func() (store.Result, error) { return st.OrderBooks(ctx, []market.OrderBook{b}) }
	case market.TypeOHLCV:
		started := time.Now()
		cs, err := c.OHLCV(ctx, sym, tf, time.Time{}, f.limit)
		if err != nil {
			return err
		}
		for i := range cs {
			cs[i].Closed = cs[i].ClosedAt(started)
		}
		out, save = cs, func() (store.Result, error) { return st.Candles(ctx, cs) }
	case market.TypeTrades:
		ts, err := c.Trades(ctx, sym, time.Time{}, f.limit)
		if err != nil {
			return err
		}
		out, save = ts, func() (store.Result, error) { return st.Trades(ctx, ts) }
	}
	var stored store.Result
	if st != nil {
		if stored, err = save(); err != nil {
			return fmt.Errorf("storing: %w", err)
		}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if st != nil {
		if _, err := st.RequestMetrics(ctx, attempts); err != nil {
			return fmt.Errorf("storing request metrics: %w", err)
		}
		fmt.Fprintf(e.stderr, "stored: %d inserted, %d updated, %d duplicates, %d rejected\n",
			stored.Inserted, stored.Updated, stored.Duplicates, stored.Rejected)
	}
	return nil
}
