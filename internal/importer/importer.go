// Package importer loads candle files through the candle checks the daemon
// runs and the store's loader. `mdingest import` builds the Checker from
// the configuration the daemon's comes from; only staleness is not judged,
// as imported history is old by design. Before those checks come the
// import's own: the file against the flags, its checksum, and the parse of
// every line.
//
// Every file is checked against the flags before anything is stored: the
// symbol and interval its Binance public-data name carries, the timeframe
// its first rows show (close_time, or the spacing of open times), its
// published checksum. A mismatch stores nothing.
//
// Then several files load at once. Each is read and checked on its own
// goroutine (the outlier check needs a series in order, so the files of one
// symbol go one after another), while shared loaders write the checked
// batches; a bounded number of batches is in flight, so memory stays flat
// whatever the input's size.
package importer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/candlecsv"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/store"
)

// Loader is the part of the store an import needs.
type Loader interface {
	Candles(ctx context.Context, rows []market.Candle) (store.Result, error)
	RejectedRows(ctx context.Context, rows []ops.RejectedRow) (store.Result, error)
	QualityReports(ctx context.Context, rows []ops.QualityReport) (store.Result, error)
	MarketSymbol(ctx context.Context, exchange, id string) (market.Symbol, bool, error)
}

// Checker validates candles (*quality.Checker).
type Checker interface {
	CheckCandles(batch []market.Candle, now time.Time, maxAge time.Duration) quality.Result[market.Candle]
}

// Options configure an import.
type Options struct {
	Exchange string
	// Symbol of every file; "" takes each file's from its Binance
	// public-data name (SYMBOL-INTERVAL-...).
	Symbol    market.Symbol
	Timeframe market.Timeframe
	Workers   int // files read at once; 0: the number of CPUs
	BatchSize int // rows per batch; 0: DefaultBatchSize
	// Range, when set, is the database's chunk range of a candle time: a
	// batch holding half its size or more then also ends where the range
	// changes, so that the batches loaded at once write into different
	// chunks, each at its indexes' right edge, instead of one splitting
	// the other's index pages in half (store.CandleRange). Half, so that
	// ranges of a few candles (daily candles in weekly chunks) do not make
	// batches of a few rows.
	Range    func(time.Time) int64
	Checker  Checker
	Progress backfill.Progress // nil: none
	Logger   *slog.Logger
	Now      func() time.Time
}

// maxBuffers bounds the batches in memory at once, whatever the workers:
// each is about 5 MB at 16k rows, 14 MB at 50k.
const maxBuffers = 8

// buffers is the number of batch buffers an import with workers readers
// holds.
func buffers(workers int) int { return min(2*workers+2, maxBuffers) }

// lineBytes bounds the text a candle keeps alive: its line of the file (a
// Binance kline line with eight decimals is about 150 bytes) and the
// line number kept for refusals.
const lineBytes = 256

// HeapBound is the most heap the batches of an import hold at once: every
// buffer full, each row keeping its line. With workers < 1 it assumes the
// CPUs, as Run does. A memory limit above it lets the collector wait for
// the limit without ever running short of room.
func HeapBound(workers, batchSize int) int64 {
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	return int64(buffers(workers)) * int64(batchSize) * (int64(unsafe.Sizeof(market.Candle{})) + lineBytes)
}

// DefaultBatchSize is the batch size when neither the caller nor the
// store (store.BulkBatchRows) says: long COPYs against the probe and the
// commit around them, at a few MB per batch in flight.
const DefaultBatchSize = 16_384

// Errors. ErrMismatch and ErrNoSymbol are the caller's mistakes (exit 2);
// nothing is stored when Run returns them.
var (
	ErrMismatch = errors.New("does not match")
	ErrNoSymbol = errors.New("cannot tell the symbol")
)

// Source is the ops.rejected_rows source of what an import refuses.
const Source = "import"

// Summary is what an import did. Every line read ends up in exactly one
// of Inserted, Updated, Duplicates, Conflicts and Refused.
type Summary struct {
	Files      int
	Lines      int // data lines read (header rows excluded)
	Inserted   int
	Updated    int
	Duplicates int
	Conflicts  int            // stored before with other values: kept, both versions recorded
	Refused    map[string]int // lines refused, by code
	Examples   map[string]string
	Elapsed    time.Duration
}

// RefusedLines is the number of lines refused.
func (s Summary) RefusedLines() int {
	n := 0
	for _, c := range s.Refused {
		n += c
	}
	return n
}

func (s Summary) String() string {
	var b strings.Builder
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Lines) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(&b, "%d files, %d lines: %d inserted, %d updated, %d duplicates, %d conflicts, %d refused in %s (%.0f lines/s)\n",
		s.Files, s.Lines, s.Inserted, s.Updated, s.Duplicates, s.Conflicts, s.RefusedLines(), s.Elapsed.Round(time.Millisecond), rate)
	if len(s.Refused) > 0 {
		codes := make([]string, 0, len(s.Refused))
		for c := range s.Refused {
			codes = append(codes, c)
		}
		slices.SortFunc(codes, func(a, b string) int { return cmp.Or(cmp.Compare(s.Refused[b], s.Refused[a]), cmp.Compare(a, b)) })
		fmt.Fprintf(&b, "refused lines by code (each kept whole in ops.rejected_rows):\n")
		for _, c := range codes {
			fmt.Fprintf(&b, "  %-22s %8d  e.g. %s\n", c, s.Refused[c], s.Examples[c])
		}
	}
	if s.Conflicts > 0 {
		fmt.Fprintf(&b, "conflicts: %d closed candles were stored before with other values; the stored ones are kept, "+
			"and both versions are in ops.rejected_rows (code conflict)\n", s.Conflicts)
	}
	return b.String()
}

func (s *Summary) refuse(code, example string, n int) {
	if s.Refused == nil {
		s.Refused, s.Examples = map[string]int{}, map[string]string{}
	}
	s.Refused[code] += n
	if _, ok := s.Examples[code]; !ok {
		s.Examples[code] = example
	}
}

// job is one file to load.
type job struct {
	path   string
	symbol market.Symbol
	est    int64 // estimated data rows
}

// Run imports files. It returns the summary so far with any error.
func Run(ctx context.Context, l Loader, files []string, o Options) (Summary, error) {
	if o.Workers < 1 {
		o.Workers = runtime.NumCPU()
	}
	if o.BatchSize < 1 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.Checker == nil {
		return Summary{}, errors.New("importer: a checker is required")
	}
	start := o.Now()
	jobs, err := plan(ctx, l, files, o)
	if err != nil {
		return Summary{}, err
	}
	var total int64
	for _, j := range jobs {
		total += j.est
	}
	o.Progress.Start(backfill.Plan{Exchange: o.Exchange, Timeframe: o.Timeframe, Ranges: len(jobs), Noun: "files",
		Total: time.Duration(total) * o.Timeframe.Duration()})
	r := &run{o: o, l: l, free: make(chan []market.Candle, buffers(o.Workers))}
	for range cap(r.free) {
		r.free <- nil // made on first use
	}
	err = r.load(ctx, jobs)
	r.sum.Elapsed = o.Now().Sub(start)
	o.Progress.Finish(backfill.Summary{Ranges: len(jobs), Finished: r.sum.Files, Failed: len(jobs) - r.sum.Files,
		Rows: r.sum.Lines, Inserted: r.sum.Inserted, Updated: r.sum.Updated, Duplicates: r.sum.Duplicates,
		Rejected: r.sum.RefusedLines(), Elapsed: r.sum.Elapsed})
	return r.sum, err
}

// plan checks every file against the flags and finds its symbol, before
// anything is stored.
func plan(ctx context.Context, l Loader, files []string, o Options) ([]job, error) {
	tf := o.Timeframe.Duration()
	jobs := make([]job, 0, len(files))
	for _, path := range files {
		j := job{path: path, symbol: o.Symbol}
		name, named := candlecsv.BinanceName(path)
		named = named && o.Exchange == "binance"
		if named && name.Interval != string(o.Timeframe) {
			return nil, fmt.Errorf("%s %w --timeframe: its name says %s, the flag says %s", path, ErrMismatch, name.Interval, o.Timeframe)
		}
		switch {
		case named && o.Symbol != "":
			ok, err := sameMarket(ctx, l, o.Exchange, o.Symbol, name.Symbol)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("%s %w --symbol: its name says %s, the flag says %s", path, ErrMismatch, name.Symbol, o.Symbol)
			}
		case named:
			sym, from, err := symbolOf(ctx, l, o.Exchange, name.Symbol)
			if err != nil {
				return nil, err
			}
			if sym == "" {
				return nil, fmt.Errorf("%w of %s: %s is not in market.symbols and ends in no known quote currency; give --symbol",
					ErrNoSymbol, path, name.Symbol)
			}
			o.Logger.Info("symbol from the file name", "file", path, "market", name.Symbol, "symbol", sym, "from", from)
			j.symbol = sym
		case o.Symbol == "":
			return nil, fmt.Errorf("%w of %s: its name is not a Binance public-data name (SYMBOL-INTERVAL-...); give --symbol", ErrNoSymbol, path)
		}
		checked, err := candlecsv.VerifyChecksum(path)
		if err != nil {
			return nil, err
		}
		smp, err := candlecsv.Inspect(path)
		if err != nil {
			return nil, err
		}
		switch {
		case smp.Span != 0 && smp.Span != tf:
			return nil, fmt.Errorf("%s %w --timeframe: its rows are %s candles (close_time of the candle at %s), the flag says %s",
				path, ErrMismatch, candlecsv.FormatSpan(smp.Span), smp.SpanAt.Format(time.RFC3339), o.Timeframe)
		case smp.Span == 0 && smp.Spacing != 0 && smp.Spacing != tf:
			return nil, fmt.Errorf("%s %w --timeframe: its rows are %s apart (%s, then %s), the flag says %s",
				path, ErrMismatch, candlecsv.FormatSpan(smp.Spacing), smp.Prev.Format(time.RFC3339), smp.Next.Format(time.RFC3339), o.Timeframe)
		}
		j.est = smp.EstRows
		o.Logger.Info("file checked", "file", path, "symbol", j.symbol, "rows_estimated", j.est, "checksum_verified", checked)
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// sameMarket reports whether the market id of a file name is sym: by the
// exchange's market list when it has the id, else by spelling.
func sameMarket(ctx context.Context, l Loader, exchange string, sym market.Symbol, id string) (bool, error) {
	stored, ok, err := l.MarketSymbol(ctx, exchange, id)
	if err != nil || ok {
		return stored == sym, err
	}
	return strings.EqualFold(sym.Base()+sym.Quote(), id), nil
}

// symbolOf turns a Binance market id into a unified symbol: from the
// exchange's market list when the daemon stored it, else by its quote
// currency's spelling at the end, the longest that fits.
func symbolOf(ctx context.Context, l Loader, exchange, id string) (market.Symbol, string, error) {
	sym, ok, err := l.MarketSymbol(ctx, exchange, id)
	if err != nil || ok {
		return sym, "market.symbols", err
	}
	best := ""
	for _, q := range quotes {
		if len(q) > len(best) && len(id) > len(q) && strings.HasSuffix(id, q) {
			best = q
		}
	}
	if best == "" {
		return "", "", nil
	}
	return market.NewSymbol(strings.TrimSuffix(id, best), best), "the quote currency's spelling", nil
}

// quotes are the quote currencies of Binance's spot markets.
var quotes = []string{
	"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "DAI", "USD", "BTC", "ETH", "BNB", "XRP", "TRX", "DOGE", "DOT",
	"EUR", "EURI", "AEUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "NGN", "ZAR", "PLN", "RON", "ARS",
	"MXN", "COP", "CZK", "IDRT", "BIDR", "BVND", "VAI",
}

// run is one import in progress.
type run struct {
	o Options
	l Loader
	// free holds the batch buffers: a fixed number, so that memory does
	// not grow with the number of workers, recycled because a batch holds
	// pointers (the rows' strings) and fresh ones would cost the garbage
	// collector a scan each.
	free chan []market.Candle
	mu   sync.Mutex
	// sum and truncated are guarded by mu.
	sum       Summary
	truncated []string
}

// batch is one unit of work between a file's reader and the loaders.
type batch struct {
	job      *job
	buf      []market.Candle // the buffer read into, recycled once stored
	candles  []market.Candle // accepted by the checks
	rejects  []ops.RejectedRow
	reports  []ops.QualityReport
	lines    int
	from, to time.Time
	last     bool // the file's last batch
}

// group is one symbol's files, read one after another in name order
// (their dates), and the channel its batches leave by.
type group struct {
	jobs []*job
	out  chan batch
}

// load reads the files, several symbols at once, and hands their batches
// to the loaders in key order: a symbol's batches only once the symbols
// before it are all handed over. The database then appends each index's
// keys at its right edge, where PostgreSQL fills pages before it splits
// them, rather than two symbols splitting each other's pages in half
// (a fifth more index and WAL, and the server's time with them); the
// readers of later symbols parse ahead into the free buffers meanwhile.
func (r *run) load(ctx context.Context, jobs []job) error {
	var groups []*group
	at := map[market.Symbol]*group{}
	for i := range jobs {
		j := &jobs[i]
		grp, ok := at[j.symbol]
		if !ok {
			grp = &group{out: make(chan batch)}
			at[j.symbol] = grp
			groups = append(groups, grp)
		}
		grp.jobs = append(grp.jobs, j)
	}
	for _, grp := range groups {
		slices.SortStableFunc(grp.jobs, func(a, b *job) int { return cmp.Compare(a.path, b.path) })
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return cmp.Compare(a.jobs[0].symbol, b.jobs[0].symbol) })

	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *group)
	out := make(chan batch, 1)
	g.Go(func() error {
		defer close(work)
		for _, grp := range groups {
			select {
			case work <- grp:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	// A reader waiting for its turn holds one buffer: fewer readers than
	// buffers leaves the symbol being handed over buffers to go on with.
	for range min(r.o.Workers, len(groups), cap(r.free)-1) {
		g.Go(func() error {
			for grp := range work {
				err := func() error {
					defer close(grp.out)
					for _, j := range grp.jobs {
						if err := r.read(gctx, j, grp.out); err != nil {
							return err
						}
					}
					return nil
				}()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(out)
		for _, grp := range groups {
			for {
				var b batch
				var more bool
				select { // a group no reader took is never closed
				case b, more = <-grp.out:
				case <-gctx.Done():
					return gctx.Err()
				}
				if !more {
					break
				}
				select {
				case out <- b:
				case <-gctx.Done():
					r.recycle(b.buf)
					return gctx.Err()
				}
			}
		}
		return nil
	})
	// One loader more than readers keeps the server busy while a batch
	// commits; the store decides how many COPYs run at once.
	for range r.o.Workers + 1 {
		g.Go(func() error {
			for b := range out {
				if err := r.store(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	if len(r.truncated) > 0 {
		err = errors.Join(err, fmt.Errorf("%w: %s; the lines before it are stored, the last one is refused",
			candlecsv.ErrTruncated, strings.Join(r.truncated, ", ")))
	}
	return err
}

// read parses and checks one file into batches.
func (r *run) read(ctx context.Context, j *job, out chan<- batch) error {
	s := &fileSink{r: r, ctx: ctx, job: j, out: out,
		opts: candlecsv.Options{Exchange: r.o.Exchange, Symbol: j.symbol, Timeframe: r.o.Timeframe, Now: r.o.Now()}}
	s.reset()
	err := candlecsv.ReadFile(j.path, s.opts, s)
	if errors.Is(err, candlecsv.ErrTruncated) {
		r.mu.Lock()
		r.truncated = append(r.truncated, j.path)
		r.mu.Unlock()
		err = nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", j.path, err)
	}
	return s.flush(true)
}

// fileSink cuts a file's rows into checked batches.
type fileSink struct {
	r     *run
	ctx   context.Context
	job   *job
	out   chan<- batch
	opts  candlecsv.Options
	cur   batch
	lines []int // line of each candle of cur
	at    int64 // Range of the last candle
}

// take gives the current batch a buffer, waiting for one to be free.
func (s *fileSink) take() error {
	if s.cur.buf != nil {
		return nil
	}
	select {
	case buf := <-s.r.free:
		if buf == nil {
			buf = make([]market.Candle, 0, s.r.o.BatchSize)
		}
		s.cur.buf, s.cur.candles = buf, buf
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *fileSink) reset() {
	s.cur = batch{job: s.job}
	s.lines = s.lines[:0]
}

// Candle implements candlecsv.Sink.
func (s *fileSink) Candle(c market.Candle, line int) error {
	if s.r.o.Range != nil {
		at := s.r.o.Range(c.Time)
		if at != s.at && 2*len(s.cur.candles) >= s.r.o.BatchSize {
			if err := s.flush(false); err != nil {
				return err
			}
		}
		s.at = at
	}
	if err := s.take(); err != nil {
		return err
	}
	s.cur.candles = append(s.cur.candles, c)
	s.lines = append(s.lines, line)
	if len(s.cur.candles) >= s.r.o.BatchSize {
		return s.flush(false)
	}
	return nil
}

// Reject implements candlecsv.Sink.
func (s *fileSink) Reject(rj candlecsv.Reject) error {
	payload, err := json.Marshal(rj)
	if err != nil {
		return err
	}
	s.cur.lines++
	s.cur.rejects = append(s.cur.rejects, ops.RejectedRow{Exchange: s.opts.Exchange, Symbol: string(s.opts.Symbol),
		DataType: string(market.TypeOHLCV), Source: Source, Code: rj.Code, Reason: rj.Reason, Payload: payload})
	s.r.noteRefusal(rj.Code, fmt.Sprintf("%s line %d: %s", rj.File, rj.Line, rj.Reason))
	return nil
}

// flush checks the current batch with the Checker's candle checks
// (staleness aside) and hands it to the loaders.
func (s *fileSink) flush(last bool) error {
	b := s.cur
	b.last = last
	b.lines += len(b.candles)
	if len(b.candles) > 0 {
		now := s.r.o.Now()
		res := s.r.o.Checker.CheckCandles(b.candles, now, 0)
		b.from, b.to = b.candles[0].Time, b.candles[len(b.candles)-1].Time
		for _, rj := range res.Rejected {
			line := s.lines[rj.Index]
			payload, err := json.Marshal(map[string]any{"file": s.job.path, "line": line,
				"timeframe": rj.Row.Timeframe, "closed": rj.Row.Closed, "ohlcv": rj.Row})
			if err != nil {
				return err
			}
			b.rejects = append(b.rejects, ops.RejectedRow{Time: now, Exchange: s.opts.Exchange, Symbol: string(s.opts.Symbol),
				DataType: string(market.TypeOHLCV), Source: Source, Code: rj.Check, Reason: rj.Reason, Payload: payload})
			s.r.noteRefusal(rj.Check, fmt.Sprintf("%s line %d: %s", s.job.path, line, rj.Reason))
		}
		for _, rep := range res.Reports {
			b.reports = append(b.reports, ingest.QualityRow(now, rep))
		}
		b.candles = res.Accepted
	}
	s.reset()
	if b.lines == 0 && !last {
		return nil
	}
	select {
	case s.out <- b:
		return nil
	case <-s.ctx.Done():
		s.r.recycle(b.buf)
		return s.ctx.Err()
	}
}

// noteRefusal counts a refused line now, so the example is the first in
// the file's order.
func (r *run) noteRefusal(code, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.refuse(code, example, 1)
}

// store writes one batch: refused rows, candles, quality reports.
func (r *run) store(ctx context.Context, b batch) error {
	if len(b.rejects) > 0 {
		if _, err := r.l.RejectedRows(ctx, b.rejects); err != nil {
			return fmt.Errorf("recording refused lines of %s: %w", b.job.path, err)
		}
	}
	var res store.Result
	if len(b.candles) > 0 {
		var err error
		if res, err = r.l.Candles(ctx, b.candles); err != nil {
			return fmt.Errorf("loading %s: %w", b.job.path, err)
		}
	}
	if len(b.reports) > 0 {
		if _, err := r.l.QualityReports(ctx, b.reports); err != nil {
			return fmt.Errorf("recording quality reports of %s: %w", b.job.path, err)
		}
	}
	r.mu.Lock()
	r.sum.Lines += b.lines
	r.sum.Inserted += res.Inserted
	r.sum.Updated += res.Updated
	r.sum.Duplicates += res.Duplicates
	r.sum.Conflicts += res.Conflicts
	if res.Rejected > 0 {
		r.sum.refuse(ops.CodeDBRefused, "the database refused them: see ops.rejected_rows", res.Rejected)
	}
	if b.last {
		r.sum.Files++
	}
	r.mu.Unlock()
	r.recycle(b.buf)
	r.o.Progress.Page(backfill.PageEvent{Symbol: b.job.symbol, Kind: market.TypeOHLCV, From: b.from, Cursor: b.to,
		Advanced: time.Duration(b.lines) * r.o.Timeframe.Duration(), Returned: b.lines, Result: res})
	return nil
}

// recycle returns a batch's buffer, cleared so that it holds no rows'
// strings alive.
func (r *run) recycle(buf []market.Candle) {
	if buf == nil {
		return
	}
	clear(buf[:cap(buf)])
	r.free <- buf[:0]
}

type nopProgress struct{}

func (nopProgress) Start(backfill.Plan)     {}
func (nopProgress) Page(backfill.PageEvent) {}
func (nopProgress) Finish(backfill.Summary) {}
