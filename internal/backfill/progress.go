package backfill

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// Plan is the work a run is about to do, as time spans of history.
type Plan struct {
	Exchange  string
	Timeframe market.Timeframe
	Ranges    int           // ranges with something left to fetch
	Noun      string        // what Ranges counts, for display; "" means "ranges"
	Total     time.Duration // their summed span
	Done      time.Duration // of which earlier runs fetched
}

// PageEvent reports one stored page.
type PageEvent struct {
	Symbol   market.Symbol
	Kind     market.DataType
	From     time.Time     // the cursor before the page
	Cursor   time.Time     // and after it
	Advanced time.Duration // Cursor - From
	Returned int           // rows the exchange returned
	Result   store.Result  // what storing them did
}

// Progress is told what a run does. Page may be called from several
// goroutines at once.
type Progress interface {
	Start(Plan)
	Page(PageEvent)
	Finish(Summary)
}

type nopProgress struct{}

func (nopProgress) Start(Plan)     {}
func (nopProgress) Page(PageEvent) {}
func (nopProgress) Finish(Summary) {}

// DefaultLogEvery is how often the log progress writes a line.
const DefaultLogEvery = 10 * time.Second

// NewProgress chooses how to show a run: a progress bar when w is a
// terminal, else a log line every DefaultLogEvery through logger.
func NewProgress(w io.Writer, logger *slog.Logger) Progress {
	return NewNamedProgress(w, logger, "backfill")
}

// NewNamedProgress is NewProgress for another command that loads history
// (import): its log lines say name rather than "backfill".
func NewNamedProgress(w io.Writer, logger *slog.Logger, name string) Progress {
	if IsTerminal(w) {
		return NewBar(w)
	}
	return newLog(logger, name, DefaultLogEvery, nil)
}

// IsTerminal reports whether w is a terminal (an *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Bar draws a progress bar with rate and ETA. Its unit is one period of
// the timeframe (one candle; for trades ranges, a candle's span of trades).
type Bar struct {
	w    io.Writer
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	unit time.Duration
	done time.Duration
}

// NewBar returns a Bar drawing on w.
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(p Plan) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unit = max(p.Timeframe.Duration(), time.Minute)
	b.done = p.Done
	b.bar = progressbar.NewOptions64(max(int64(p.Total/b.unit), 1),
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%s %s, %d %s", p.Exchange, p.Timeframe, p.Ranges, noun(p))),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("candles"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)
	_ = b.bar.Set64(int64(b.done / b.unit)) // a write error to a terminal is not worth failing a backfill
}

// Page implements Progress.
func (b *Bar) Page(e PageEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	b.done += e.Advanced
	b.bar.Describe(fmt.Sprintf("%s %s", e.Symbol, e.Kind))
	_ = b.bar.Set64(int64(b.done / b.unit))
}

// Finish implements Progress: a full bar when every range finished, the
// bar as it stands otherwise.
func (b *Bar) Finish(s Summary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	if s.Failed == 0 && s.Finished+s.AlreadyDone+s.Skipped == s.Ranges {
		_ = b.bar.Finish()
	} else {
		_ = b.bar.Exit()
	}
	fmt.Fprintln(b.w)
}

// Log writes a progress line at most every interval, and one at the start
// and the end.
type Log struct {
	log   *slog.Logger
	name  string // the command, in messages
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	plan    Plan
	done    time.Duration // fetched in this run
	pages   int
	rows    int
	start   time.Time
	lastLog time.Time
}

// NewLog returns a Log; nil now means time.Now.
func NewLog(logger *slog.Logger, every time.Duration, now func() time.Time) *Log {
	return newLog(logger, "backfill", every, now)
}

func newLog(logger *slog.Logger, name string, every time.Duration, now func() time.Time) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Log{log: logger.With("component", name), name: name, every: every, now: now}
}

// Start implements Progress.
func (l *Log) Start(p Plan) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.plan, l.start = p, l.now()
	l.lastLog = l.start
	l.log.Info(l.name+" starting", "exchange", p.Exchange, "timeframe", p.Timeframe, noun(p), p.Ranges,
		"span", p.Total.String(), "already_done", percent(p.Done, p.Total))
}

// Page implements Progress.
func (l *Log) Page(e PageEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done += e.Advanced
	l.pages++
	l.rows += e.Result.Requested
	now := l.now()
	if now.Sub(l.lastLog) < l.every {
		return
	}
	l.lastLog = now
	elapsed := now.Sub(l.start)
	attrs := []any{"done", percent(l.plan.Done+l.done, l.plan.Total), "pages", l.pages, "rows", l.rows,
		"symbol", e.Symbol, "kind", e.Kind, "cursor", e.Cursor.UTC().Format(time.RFC3339)}
	if elapsed > 0 {
		attrs = append(attrs, "rows_per_s", int(float64(l.rows)/elapsed.Seconds()))
	}
	if l.done > 0 {
		left := l.plan.Total - l.plan.Done - l.done
		eta := time.Duration(float64(elapsed) * float64(left) / float64(l.done))
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	l.log.Info(l.name+" progress", attrs...)
}

// Finish implements Progress.
func (l *Log) Finish(s Summary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.Info(l.name+" finished", "ranges", s.Ranges, "finished", s.Finished, "resumed", s.Resumed,
		"already_done", s.AlreadyDone, "skipped", s.Skipped, "failed", s.Failed, "requests", s.Requests,
		"pages", s.Pages, "empty_pages", s.EmptyPages, "rows", s.Rows, "inserted", s.Inserted,
		"updated", s.Updated, "duplicates", s.Duplicates, "conflicts", s.Conflicts, "rejected", s.Rejected,
		"elapsed", s.Elapsed.Round(time.Millisecond).String())
}

func noun(p Plan) string {
	if p.Noun == "" {
		return "ranges"
	}
	return p.Noun
}

func percent(part, whole time.Duration) string {
	if whole <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
