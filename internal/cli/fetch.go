package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
)

type fetchFlags struct {
	exchange, symbol, kind, timeframe, since string
	limit, depth                             int
	store                                    bool
}

// maxFetchLimit bounds --limit: more than any exchange returns in one page.
const maxFetchLimit = 100_000

func newFetchCmd(e *env) *cobra.Command {
	var f fetchFlags
	cmd := &cobra.Command{
		Use:   "fetch --exchange E [--symbol S] --kind markets|ticker|orderbook|ohlcv|trades",
		Short: "one request; prints the normalised result as CCXT-shaped JSON (--store also stores it)",
		Long: `Makes one request to an exchange and prints the normalised result as JSON with CCXT's
field names: a ticker, an order book, an OHLCV array, a trade array, or the market list.
Numbers keep the exchange's digits.

--store also stores the result, through the daemon's checks (rejected rows go to
ops.rejected_rows) and with the request recorded in ops.request_metrics.`,
		Example: "  mdingest fetch --exchange binance --symbol BTC/USDT --kind ticker\n" +
			"  mdingest fetch --exchange kraken --symbol BTC/USDT --kind ohlcv --timeframe 1h --since 2024-01-01 --limit 10",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFetch(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.exchange, "exchange", "", "exchange id, e.g. binance (required)")
	fs.StringVar(&f.symbol, "symbol", "", "unified symbol, e.g. BTC/USDT (required except for markets)")
	fs.StringVar(&f.kind, "kind", "ticker", "markets, ticker, orderbook, ohlcv or trades")
	fs.StringVar(&f.timeframe, "timeframe", "1m", "candle timeframe for ohlcv: 1m 5m 15m 1h 4h 1d")
	fs.IntVar(&f.limit, "limit", 0, "candles or trades to fetch (0: the exchange's default)")
	fs.StringVar(&f.since, "since", "", "ohlcv and trades: the page from this time on, RFC 3339 or YYYY-MM-DD (default: the latest)")
	fs.IntVar(&f.depth, "depth", 0, "order-book depth (0: the exchange's default)")
	fs.BoolVar(&f.store, "store", false, "also store the result in the database")
	completeExchange(cmd)
	completeValues(cmd, "kind", kindNames...)
	completeValues(cmd, "timeframe", timeframeNames...)
	return cmd
}

func runFetch(ctx context.Context, e *env, f fetchFlags) (err error) {
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
	var since time.Time
	if f.since != "" {
		if kind != market.TypeOHLCV && kind != market.TypeTrades {
			return usagef("--since applies to --kind ohlcv and trades, not %s", kind)
		}
		if since, err = parseWhen(f.since); err != nil {
			return usagef("--since: %v", err)
		}
		if since.After(time.Now()) {
			return usagef("--since %s is in the future", f.since)
		}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	// With --store, the request goes through the daemon's road: the
	// attempt is recorded in ops.request_metrics, and the result is checked
	// as the daemon checks it before it is stored.
	var c *daemon.Client
	var road *daemon.Road
	if f.store {
		st, serr := openStore(ctx, e, cfg)
		if serr != nil {
			return serr
		}
		defer st.Close()
		var release func() error
		if road, release, serr = openRoad(e, cfg, f.exchange, st); serr != nil {
			return serr
		}
		// Request records are written before the store closes.
		defer func() { err = errors.Join(err, release()) }()
		c = road.Client
	} else {
		if c, err = daemon.NewClient(cfg, f.exchange, daemon.ClientDeps{Logger: e.logger}); err != nil {
			return err
		}
		defer c.HTTP.Close()
	}
	if !since.IsZero() && kind == market.TypeTrades && !c.Capabilities().HistoricalTrades {
		return usagef("--since: %s serves only its latest trades, not trades from a time", f.exchange)
	}

	var out any
	// Each kind fetches and says how to store what it got.
	var save func() (ingest.Checked, error)
	started := time.Now()
	switch kind {
	case market.TypeMarkets:
		ms, err := c.Markets(ctx)
		if err != nil {
			return err
		}
		out, save = ms, func() (ingest.Checked, error) {
			return ingest.Checked{Accepted: len(ms)}, road.Pipeline.IngestMarkets(ctx, started, ms)
		}
	case market.TypeTicker:
		ts, err := c.Tickers(ctx, []market.Symbol{sym})
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fmt.Errorf("%s returned no ticker for %s", f.exchange, sym)
		}
		out, save = ts[0], func() (ingest.Checked, error) { return road.Pipeline.IngestTickers(ctx, started, ts[:1]) }
	case market.TypeOrderBook:
		b, err := c.OrderBook(ctx, sym, f.depth)
		if err != nil {
			return err
		}
		out, save = b, func() (ingest.Checked, error) {
			return road.Pipeline.IngestOrderBooks(ctx, started, []market.OrderBook{b})
		}
	case market.TypeOHLCV:
		cs, err := c.OHLCV(ctx, sym, tf, since, f.limit)
		if err != nil {
			return err
		}
		for i := range cs {
			cs[i].Closed = cs[i].ClosedAt(started)
		}
		out, save = cs, func() (ingest.Checked, error) { return road.Pipeline.IngestCandles(ctx, started, cs) }
	case market.TypeTrades:
		ts, err := c.Trades(ctx, sym, since, f.limit)
		if err != nil {
			return err
		}
		out, save = ts, func() (ingest.Checked, error) { return road.Pipeline.IngestTrades(ctx, started, ts) }
	}
	var stored ingest.Checked
	if road != nil {
		if stored, err = save(); err != nil {
			return fmt.Errorf("storing: %w", err)
		}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if road != nil {
		fmt.Fprintf(e.stderr, "stored: %d accepted, %d rejected by the quality checks (see ops.rejected_rows)\n",
			stored.Accepted, stored.Rejected)
	}
	return nil
}
