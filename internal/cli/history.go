package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/redis/go-redis/v9"

	"github.com/mdingest/mdingest/internal/cache"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// rangeFlags are the --exchange/--symbols/--timeframe/--from/--to of
// backfill and gaps.
type rangeFlags struct {
	exchange, symbols, timeframe, from, to string
	kind                                   string // gaps: ohlcv or trades
	trades, fill, withNoData               bool
	concurrency                            int
}

func (r *rangeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.exchange, "exchange", "", "exchange id, e.g. binance (required)")
	fs.StringVar(&r.symbols, "symbols", "", "comma-separated unified symbols, e.g. BTC/USDT,ETH/USDT")
	fs.StringVar(&r.timeframe, "timeframe", "1m", "candle timeframe: 1m 5m 15m 1h 4h 1d")
	fs.StringVar(&r.from, "from", "", "start: RFC 3339 or YYYY-MM-DD (UTC)")
	fs.StringVar(&r.to, "to", "", "end, exclusive: RFC 3339 or YYYY-MM-DD (default: now)")
}

type parsedRange struct {
	exchange string
	symbols  []market.Symbol
	tf       market.Timeframe
	from, to time.Time
}

func (r *rangeFlags) parse(needSymbols, needFrom bool) (parsedRange, error) {
	var p parsedRange
	if err := parseExchange(r.exchange); err != nil {
		return p, err
	}
	p.exchange = r.exchange
	for _, s := range strings.Split(r.symbols, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		sym, err := parseCLISymbol(s)
		if err != nil {
			return p, usagef("--symbols: %v", err)
		}
		p.symbols = append(p.symbols, sym)
	}
	if r.symbols != "" && len(p.symbols) == 0 {
		return p, usagef("--symbols: %q names no symbol", r.symbols)
	}
	if needSymbols && len(p.symbols) == 0 {
		return p, usagef("--symbols is required")
	}
	var err error
	if p.tf, err = market.ParseTimeframe(r.timeframe); err != nil {
		return p, usagef("--timeframe: %v", err)
	}
	if r.from == "" && needFrom {
		return p, usagef("--from is required")
	}
	if r.from != "" {
		if p.from, err = parseBoundedWhen(r.from); err != nil {
			return p, usagef("--from: %v", err)
		}
	}
	if r.to != "" {
		if p.to, err = parseBoundedWhen(r.to); err != nil {
			return p, usagef("--to: %v", err)
		}
	}
	if !p.from.IsZero() && !p.to.IsZero() && !p.from.Before(p.to) {
		return p, usagef("--from must be before --to")
	}
	return p, nil
}

// The times backfill and gaps accept: exchanges count in (milli)seconds
// since 1970, and a span between these bounds fits a time.Duration (which
// ends in 2262), so nothing downstream overflows.
var (
	earliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseBoundedWhen is parseWhen within [earliest, latest).
func parseBoundedWhen(s string) (time.Time, error) {
	t, err := parseWhen(s)
	switch {
	case err != nil:
		return t, err
	case t.Before(earliest):
		return t, fmt.Errorf("%s is before %s: exchanges keep nothing earlier", s, earliest.Format(time.DateOnly))
	case !t.Before(latest):
		return t, fmt.Errorf("%s is not before %s, the latest time mdingest handles", s, latest.Format(time.DateOnly))
	}
	return t, nil
}

// parseCLISymbol is a unified symbol whose codes are letters and digits,
// as CCXT's are: anything else is a typo, not a market.
func parseCLISymbol(s string) (market.Symbol, error) {
	sym, err := market.ParseSymbol(s)
	if err != nil {
		return "", err
	}
	for _, c := range strings.ReplaceAll(string(sym), "/", "") {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", fmt.Errorf("%w %q: currency codes are letters and digits", market.ErrInvalidSymbol, s)
		}
	}
	return sym, nil
}

// parseWhen takes RFC 3339 or YYYY-MM-DD, as SPEC says.
func parseWhen(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 or YYYY-MM-DD", s)
}

var bf, gp rangeFlags

// maxBackfillConcurrency bounds --concurrency: the rate limiter paces the
// requests either way, more only holds more pages in memory.
const maxBackfillConcurrency = 64

// knownSymbols refuses a symbol that is neither configured for the
// exchange nor known to the database (its market list or its candles):
// gaps would report a typo as one long gap, and --fill fetch it.
func knownSymbols(ctx context.Context, st *store.Store, cfg config.Config, p parsedRange) error {
	for _, s := range p.symbols {
		if slices.Contains(cfg.Exchanges[p.exchange].Symbols, s) {
			continue
		}
		known, err := st.KnownSymbol(ctx, p.exchange, s)
		if err != nil {
			return err
		}
		if !known {
			return usagef("--symbols: %s is not a %s market: not in exchanges.%s.symbols, market.symbols or its candles",
				s, p.exchange, p.exchange)
		}
	}
	return nil
}

func init() {
	register(&command{
		name:    "backfill",
		summary: "fetch historical candles (and trades) at low priority; rerun the same command to resume",
		flags: func(fs *flag.FlagSet) {
			bf.register(fs)
			fs.BoolVar(&bf.trades, "trades", false, "also fetch trades where the exchange keeps their history, and fill the recorded trade holes of the range")
			fs.IntVar(&bf.concurrency, "concurrency", 2, fmt.Sprintf("ranges fetched at once (1 to %d)", maxBackfillConcurrency))
		},
		run: runBackfill,
	})
	register(&command{
		name:    "gaps",
		summary: "list missing candle ranges and candles left open, or recorded trade holes (--kind trades); --fill fetches exactly those again",
		flags: func(fs *flag.FlagSet) {
			gp.register(fs)
			fs.StringVar(&gp.kind, "kind", "ohlcv", "ohlcv: missing candles; trades: trade holes recorded by the daemon (ops.trade_holes)")
			fs.BoolVar(&gp.fill, "fill", false, "backfill the gaps found")
			fs.BoolVar(&gp.withNoData, "include-no-data", false, "with --fill: also refetch ranges the exchange returned nothing for")
		},
		run: runGaps,
	})
}

// historyClient builds what backfill and gaps --fill need: the store and a
// backfiller on the daemon's road (its checks, quality reports, rejected
// rows and request metrics), whose client shares the daemon's rate budget
// through Redis when one is configured. done releases them and writes the
// request records still queued.
func historyClient(ctx context.Context, e *env, cfg config.Config, p parsedRange, concurrency int) (*store.Store, *backfill.Backfiller, func() error, error) {
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	road, release, err := openRoad(e, cfg, p.exchange, st)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	// A backfill is one more process on the egress: without Redis it and
	// the daemons there each keep to their share of the budget.
	stopPeers, err := daemon.SharePeers(ctx, cfg, e.logger, road.Client.Limiter)
	if err != nil {
		_ = release()
		st.Close()
		return nil, nil, nil, err
	}
	done := func() error {
		stopPeers()
		err := release()
		st.Close()
		return err
	}
	b, err := backfill.New(backfill.Options{
		Connector: road.Client, Sink: st, Checks: road.Pipeline, Journal: backfill.NewJournal(st.Pool()), Timeframe: p.tf,
		Concurrency: concurrency, Progress: backfill.NewProgress(e.stderr, e.logger), Logger: e.logger,
	})
	if err != nil {
		_ = done()
		return nil, nil, nil, err
	}
	return st, b, done, nil
}

// openRoad opens exchange id's road (daemon.Road) over st, with the rate
// budget shared through Redis when one is configured. release closes it.
func openRoad(e *env, cfg config.Config, id string, st *store.Store) (*daemon.Road, func() error, error) {
	deps := daemon.RoadDeps{Logger: e.logger}
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		var err error
		if rdb, err = cache.NewRedisClient(cfg.RedisURL.Reveal()); err != nil {
			return nil, nil, &config.Error{Key: "redis_url", Msg: err.Error()}
		}
		deps.Redis = rdb
	}
	road, err := daemon.OpenRoad(cfg, id, st, deps)
	if err != nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, nil, err
	}
	return road, func() error {
		err := road.Close()
		if rdb != nil {
			_ = rdb.Close()
		}
		return err
	}, nil
}

func runBackfill(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("backfill takes no arguments, got %q", args[0])
	}
	p, err := bf.parse(true, true)
	if err != nil {
		return err
	}
	if bf.concurrency < 1 || bf.concurrency > maxBackfillConcurrency {
		return usagef("--concurrency: want 1 to %d, got %d", maxBackfillConcurrency, bf.concurrency)
	}
	if p.to.IsZero() {
		p.to = time.Now().UTC()
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	st, b, done, err := historyClient(ctx, e, cfg, p, bf.concurrency)
	if err != nil {
		return err
	}
	sum, err := b.Run(ctx, backfill.Ranges(p.symbols, p.from, p.to, bf.trades))
	fmt.Fprintln(e.stdout, sum)
	if bf.trades && ctx.Err() == nil {
		err = errors.Join(err, fillTradeHoles(ctx, e, st, b, p))
	}
	err = errors.Join(err, done())
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: rerun the same command to resume")
	}
	return err
}

// fillTradeHoles fills the open trade holes of the range where the
// exchange can, and prints what came of them.
func fillTradeHoles(ctx context.Context, e *env, st *store.Store, b *backfill.Backfiller, p parsedRange) error {
	holes, err := st.TradeHoles(ctx, tradeHoleQuery(p, store.HoleOpen))
	if err != nil {
		return err
	}
	if len(holes) == 0 {
		return nil
	}
	sum, err := b.FillTradeHoles(ctx, st, holes)
	fmt.Fprintln(e.stdout, sum)
	return err
}

func tradeHoleQuery(p parsedRange, status string) store.HoleQuery {
	q := store.HoleQuery{Exchange: p.exchange, From: p.from, To: p.to, Status: status}
	for _, s := range p.symbols {
		q.Symbols = append(q.Symbols, string(s))
	}
	return q
}

func runGaps(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("gaps takes no arguments, got %q", args[0])
	}
	p, err := gp.parse(false, false)
	if err != nil {
		return err
	}
	kind, err := market.ParseDataType(gp.kind)
	if err != nil || kind != market.TypeOHLCV && kind != market.TypeTrades {
		return usagef("--kind %q: want ohlcv or trades", gp.kind)
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	st, b, done, err := historyClient(ctx, e, cfg, p, 2)
	if err != nil {
		return err
	}
	if err := knownSymbols(ctx, st, cfg, p); err != nil {
		return errors.Join(err, done())
	}
	if kind == market.TypeTrades {
		holes, err := st.TradeHoles(ctx, tradeHoleQuery(p, ""))
		if err == nil {
			err = backfill.RenderTradeHoles(e.stdout, holes)
		}
		if err == nil && gp.fill {
			err = fillTradeHoles(ctx, e, st, b, p)
		}
		return errors.Join(err, done())
	}
	gaps, err := backfill.FindGaps(ctx, st.Pool(), backfill.GapQuery{Exchange: p.exchange, Timeframe: p.tf, Symbols: p.symbols, From: p.from, To: p.to})
	if err == nil {
		err = backfill.RenderGaps(e.stdout, gaps)
	}
	if err == nil && gp.fill && len(gaps) > 0 {
		var sum backfill.Summary
		sum, err = b.Fill(ctx, gaps, gp.withNoData)
		fmt.Fprintln(e.stdout, sum)
	}
	return errors.Join(err, done())
}
