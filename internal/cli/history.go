package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/cache"
	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

// rangeFlags are the --exchange/--symbols/--from/--to/--days of backfill,
// gaps and export.
type rangeFlags struct {
	exchange string
	symbols  []string // comma-separated or repeated; globs match market.symbols
	from, to string
	days     int
}

func (r *rangeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&r.exchange, "exchange", "", "exchange id, e.g. binance (required)")
	fs.StringSliceVar(&r.symbols, "symbols", nil, "unified symbols, comma-separated or repeated, e.g. BTC/USDT,ETH/USDT; "+
		"a glob such as '*/USDT' matches the exchange's active markets in market.symbols")
	fs.StringVar(&r.from, "from", "", "start: RFC 3339 or YYYY-MM-DD (UTC)")
	fs.StringVar(&r.to, "to", "", "end, exclusive: RFC 3339 or YYYY-MM-DD (default: now)")
	fs.IntVar(&r.days, "days", 0, "instead of --from/--to: from 00:00 UTC N days ago up to now")
}

type parsedRange struct {
	exchange string
	symbols  []market.Symbol
	patterns []string // globs still to match against market.symbols
	from, to time.Time
}

func (r *rangeFlags) parse(needSymbols, needFrom bool, now time.Time) (parsedRange, error) {
	var p parsedRange
	if err := parseExchange(r.exchange); err != nil {
		return p, err
	}
	p.exchange = r.exchange
	for _, s := range r.symbols {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if isPattern(s) {
			pat, err := parsePattern(s)
			if err != nil {
				return p, usagef("--symbols: %v", err)
			}
			p.patterns = append(p.patterns, pat)
			continue
		}
		sym, err := parseCLISymbol(s)
		if err != nil {
			return p, usagef("--symbols: %v", err)
		}
		p.symbols = append(p.symbols, sym)
	}
	if len(r.symbols) > 0 && len(p.symbols)+len(p.patterns) == 0 {
		return p, usagef("--symbols: %q names no symbol", strings.Join(r.symbols, ","))
	}
	if needSymbols && len(p.symbols)+len(p.patterns) == 0 {
		return p, usagef("--symbols is required")
	}
	var err error
	if r.days != 0 {
		if r.from != "" || r.to != "" {
			return p, usagef("--days replaces --from and --to: give one or the other")
		}
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		if maxDays := int(today.Sub(earliest) / (24 * time.Hour)); r.days < 0 || r.days > maxDays {
			return p, usagef("--days: want 1 to %d, got %d", maxDays, r.days)
		}
		p.from = today.AddDate(0, 0, -r.days)
		return p, nil
	}
	if r.from == "" && needFrom {
		return p, usagef("--from (or --days) is required")
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

// isPattern tells a symbol glob from a symbol.
func isPattern(s string) bool { return strings.ContainsAny(s, "*?[") }

// parsePattern checks a symbol glob (path.Match syntax on the unified
// symbol: '*' does not cross the '/') and upper-cases it, as symbols are.
func parsePattern(s string) (string, error) {
	pat := strings.ToUpper(s)
	if _, err := path.Match(pat, ""); err != nil {
		return "", fmt.Errorf("bad pattern %q: %w", s, err)
	}
	return pat, nil
}

// resolveSymbols adds to p.symbols the exchange's listed markets that its
// patterns match, in market.symbols order, without repeats. A pattern that
// matches nothing is bad usage, named.
func resolveSymbols(ctx context.Context, st *store.Store, p *parsedRange) error {
	if len(p.patterns) == 0 {
		return nil
	}
	listed, err := st.ListedSymbols(ctx, p.exchange)
	if err != nil {
		return err
	}
	seen := map[market.Symbol]bool{}
	for _, s := range p.symbols {
		seen[s] = true
	}
	for _, pat := range p.patterns {
		matched := false
		for _, s := range listed {
			if ok, _ := path.Match(pat, string(s)); ok {
				matched = true
				if !seen[s] {
					seen[s] = true
					p.symbols = append(p.symbols, s)
				}
			}
		}
		if !matched {
			why := fmt.Sprintf("among the %d active %s markets in market.symbols", len(listed), p.exchange)
			if len(listed) == 0 {
				why = fmt.Sprintf("market.symbols lists no active %s market yet (the daemon's markets job, or "+
					"`mdingest fetch --exchange %s --kind markets --store`, fills it)", p.exchange, p.exchange)
			}
			return usagef("--symbols: %q matches no symbol: %s", pat, why)
		}
	}
	p.patterns = nil
	return nil
}

// parseTimeframes parses --timeframe's values, without repeats.
func parseTimeframes(values []string) ([]market.Timeframe, error) {
	var out []market.Timeframe
	for _, v := range values {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		tf, err := market.ParseTimeframe(v)
		if err != nil {
			return nil, usagef("--timeframe: %v", err)
		}
		if !slices.Contains(out, tf) {
			out = append(out, tf)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--timeframe: want at least one of %s", strings.Join(timeframeNames, " "))
	}
	return out, nil
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

type backfillFlags struct {
	rangeFlags
	timeframes  []string
	trades      bool
	concurrency int
}

func newBackfillCmd(e *env) *cobra.Command {
	var f backfillFlags
	cmd := &cobra.Command{
		Use:   "backfill --exchange E --symbols S1,S2 [--timeframe 1m,1h] (--from T [--to T] | --days N) [--trades]",
		Short: "fetch historical candles (and trades) at low priority; rerun the same command to resume",
		Long: `Fetches historical candles for each symbol and timeframe over [--from, --to), or the last
--days days, through the daemon's checks and loader, sharing its rate budget (through
Redis when configured). Progress is a bar on a terminal, log lines otherwise.

Symbols may be globs over the exchange's active markets in market.symbols ('*/USDT');
a glob that matches nothing exits 2 naming it. Several timeframes run one after the other.

Interrupted (Ctrl-C: exit 130) or failed, the same command resumes where each range
stopped (--days starts at 00:00 UTC, so the same command resumes all that day). --trades also fetches trades where the exchange keeps their history, and fills
the recorded trade holes of the range.`,
		Example: "  mdingest backfill --exchange binance --symbols BTC/USDT,ETH/USDT --timeframe 1m --from 2024-01-01 --to 2024-02-01\n" +
			"  mdingest backfill --exchange kraken --symbols '*/USD' --timeframe 1h,1d --days 30",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBackfill(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.StringSliceVar(&f.timeframes, "timeframe", []string{"1m"}, "candle timeframes, comma-separated or repeated: 1m 5m 15m 1h 4h 1d")
	fs.BoolVar(&f.trades, "trades", false, "also fetch trades where the exchange keeps their history, and fill the recorded trade holes of the range")
	fs.IntVar(&f.concurrency, "concurrency", 2, fmt.Sprintf("ranges fetched at once (1 to %d)", maxBackfillConcurrency))
	completeExchange(cmd)
	completeValues(cmd, "timeframe", timeframeNames...)
	return cmd
}

type gapsFlags struct {
	rangeFlags
	timeframe, kind  string
	fill, withNoData bool
}

func newGapsCmd(e *env) *cobra.Command {
	var f gapsFlags
	cmd := &cobra.Command{
		Use:   "gaps --exchange E [--symbols ...] [--kind ohlcv|trades] [--timeframe 1m] [--from T --to T | --days N] [--fill]",
		Short: "list missing candle ranges and candles left open, or recorded trade holes (--kind trades); --fill fetches exactly those again",
		Long: `Lists the missing candle ranges of each symbol (by default every symbol with candles
stored), candles still stored open, and stretches the exchange had no data for; or, with
--kind trades, the trade holes the daemon recorded (ops.trade_holes).

--fill fetches exactly those ranges again through the backfill's road (ranges the
exchange returned nothing for only with --include-no-data); trade holes are filled
where the exchange keeps trade history, else marked unfillable.`,
		Example: "  mdingest gaps --exchange binance --symbols BTC/USDT --days 7\n" +
			"  mdingest gaps --exchange binance --kind trades --fill",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGaps(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.StringVar(&f.timeframe, "timeframe", "1m", "candle timeframe: 1m 5m 15m 1h 4h 1d")
	fs.StringVar(&f.kind, "kind", "ohlcv", "ohlcv: missing candles; trades: trade holes recorded by the daemon (ops.trade_holes)")
	fs.BoolVar(&f.fill, "fill", false, "backfill the gaps found")
	fs.BoolVar(&f.withNoData, "include-no-data", false, "with --fill: also refetch ranges the exchange returned nothing for")
	completeExchange(cmd)
	completeValues(cmd, "timeframe", timeframeNames...)
	completeValues(cmd, "kind", "ohlcv", "trades")
	return cmd
}

// history is what backfill and gaps --fill need: the store and the
// exchange's road (daemon.Road: its checks, quality reports, rejected rows
// and request metrics), whose client shares the daemon's rate budget
// through Redis when one is configured.
type history struct {
	e    *env
	st   *store.Store
	road *daemon.Road
	done func() error
}

// openHistory opens the store and the road. close releases them and
// writes the request records still queued.
func openHistory(ctx context.Context, e *env, cfg config.Config, exchange string) (*history, error) {
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return nil, err
	}
	road, release, err := openRoad(e, cfg, exchange, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	// A backfill is one more process on the egress: without Redis it and
	// the daemons there each keep to their share of the budget.
	stopPeers, err := daemon.SharePeers(ctx, cfg, e.logger, road.Client.Limiter)
	if err != nil {
		_ = release()
		st.Close()
		return nil, err
	}
	return &history{e: e, st: st, road: road, done: func() error {
		stopPeers()
		err := release()
		st.Close()
		return err
	}}, nil
}

func (h *history) close() error { return h.done() }

// backfiller is a backfiller of timeframe tf on the road.
func (h *history) backfiller(tf market.Timeframe, concurrency int) (*backfill.Backfiller, error) {
	return backfill.New(backfill.Options{
		Connector: h.road.Client, Sink: h.st, Checks: h.road.Pipeline, Journal: backfill.NewJournal(h.st), Timeframe: tf,
		Concurrency: concurrency, Progress: backfill.NewProgress(h.e.stderr, h.e.logger), Logger: h.e.logger,
	})
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

func runBackfill(ctx context.Context, e *env, f backfillFlags) (err error) {
	p, err := f.parse(true, true, time.Now())
	if err != nil {
		return err
	}
	tfs, err := parseTimeframes(f.timeframes)
	if err != nil {
		return err
	}
	if f.concurrency < 1 || f.concurrency > maxBackfillConcurrency {
		return usagef("--concurrency: want 1 to %d, got %d", maxBackfillConcurrency, f.concurrency)
	}
	if p.to.IsZero() {
		p.to = time.Now().UTC()
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	h, err := openHistory(ctx, e, cfg, p.exchange)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	if err := resolveSymbols(ctx, h.st, &p); err != nil {
		return err
	}
	var runErr error
	for i, tf := range tfs {
		b, err := h.backfiller(tf, f.concurrency)
		if err != nil {
			return err
		}
		// Trades have no timeframe: fetched once, with the first.
		trades := f.trades && i == 0
		sum, err := b.Run(ctx, backfill.Ranges(p.symbols, p.from, p.to, trades))
		if len(tfs) > 1 {
			fmt.Fprintf(e.stdout, "%s: ", tf)
		}
		fmt.Fprintln(e.stdout, sum)
		if trades && ctx.Err() == nil {
			err = errors.Join(err, fillTradeHoles(ctx, e, h.st, b, p))
		}
		runErr = errors.Join(runErr, err)
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("interrupted: rerun the same command to resume")
	}
	return runErr
}

// fillTradeHoles fills the open trade holes of the range where the
// exchange can, and prints what came of them.
func fillTradeHoles(ctx context.Context, e *env, st *store.Store, b *backfill.Backfiller, p parsedRange) error {
	holes, err := st.TradeHoles(ctx, tradeHoleQuery(p, ops.HoleOpen))
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

func runGaps(ctx context.Context, e *env, f gapsFlags) (err error) {
	p, err := f.parse(false, false, time.Now())
	if err != nil {
		return err
	}
	tf, err := market.ParseTimeframe(f.timeframe)
	if err != nil {
		return usagef("--timeframe: %v", err)
	}
	kind, err := market.ParseDataType(f.kind)
	if err != nil || kind != market.TypeOHLCV && kind != market.TypeTrades {
		return usagef("--kind %q: want ohlcv or trades", f.kind)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	h, err := openHistory(ctx, e, cfg, p.exchange)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	if err := resolveSymbols(ctx, h.st, &p); err != nil {
		return err
	}
	if err := knownSymbols(ctx, h.st, cfg, p); err != nil {
		return err
	}
	b, err := h.backfiller(tf, 2)
	if err != nil {
		return err
	}
	if kind == market.TypeTrades {
		holes, err := h.st.TradeHoles(ctx, tradeHoleQuery(p, ""))
		if err == nil {
			err = backfill.RenderTradeHoles(e.stdout, holes)
		}
		if err == nil && f.fill {
			err = fillTradeHoles(ctx, e, h.st, b, p)
		}
		return err
	}
	gaps, err := backfill.FindGaps(ctx, h.st, backfill.GapQuery{Exchange: p.exchange, Timeframe: tf, Symbols: p.symbols, From: p.from, To: p.to})
	if err == nil {
		err = backfill.RenderGaps(e.stdout, gaps)
	}
	if err == nil && f.fill && len(gaps) > 0 {
		var sum backfill.Summary
		sum, err = b.Fill(ctx, gaps, f.withNoData)
		fmt.Fprintln(e.stdout, sum)
	}
	return err
}
