package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors returned by New and the fault parser.
var (
	ErrBadSymbol       = errors.New("invalid symbol")
	ErrBadFault        = errors.New("invalid fault")
	ErrBadBudget       = errors.New("invalid rate-limit budget")
	ErrFixtures        = errors.New("loading fixtures")
	ErrUnknownExchange = errors.New("unknown exchange")
	ErrBadTradeRate    = errors.New("invalid trade rate")
)

// SyntheticHeader marks every exchange response: the data is for tests and
// demos only.
const SyntheticHeader = "X-Replay-Synthetic"

// Options configures a Handler.
type Options struct {
	Fixtures fs.FS    // testdata/replay: <exchange>/<name>.json
	Symbols  []string // unified symbols served on every exchange; nil: DefaultSymbols
	Scale    int      // >0: serve this many symbols per exchange, generating names
	// TradeRate is how many derived trades each symbol makes per second
	// (0: one every 2 s; at most MaxTradeRate). Trade ids stay consecutive
	// per symbol, so the exchanges' cursors page through them as they do
	// through real trades.
	TradeRate float64
	KeepTimes bool // serve recorded times; the data clock stops at the recording
	// RateLimits says per exchange whether its rate limit is enforced;
	// exchanges not in the map are enforced.
	RateLimits map[string]bool
	// Budgets replace the published limits of the exchanges they name
	// (scaled-down windows for tests and load runs).
	Budgets map[string]Budget
	// Strict makes exchanges that document bans enforce them: a client that
	// sends again before a 429's Retry-After has passed is banned (Binance:
	// HTTP 418) for BanFor, as the real exchange does. With rate limits
	// enforced, this is a strict stand-in for the exchange's etiquette.
	Strict bool
	BanFor time.Duration // default DefaultBan
	Faults []Fault
	Logger *slog.Logger
	Now    func() time.Time                                 // wall clock; nil: time.Now
	Sleep  func(ctx context.Context, d time.Duration) error // latency faults; nil: a timer
	Seed   uint64                                           // for probabilistic faults
	// KeyLog counts the distinct keys served (see keylog.go); off by
	// default, as it costs a little per request.
	KeyLog bool
}

// Handler serves every exchange under /<exchange>/ and the admin API under
// /_admin/. Safe for concurrent use.
type Handler struct {
	mux       *http.ServeMux
	log       *slog.Logger
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	keepTimes bool
	exchanges map[string]*exchange
	faults    faultSet
	stats     statSet
	keys      keyLog
	limits    limiter
	closing   chan struct{}
	closeOnce sync.Once
}

// New loads the fixtures for every exchange and builds the routes.
func New(opts Options) (*Handler, error) {
	if opts.Fixtures == nil {
		return nil, fmt.Errorf("%w: no fixtures directory", ErrFixtures)
	}
	syms, err := symbolList(opts.Symbols, opts.Scale)
	if err != nil {
		return nil, err
	}
	if !(opts.TradeRate >= 0 && opts.TradeRate <= MaxTradeRate) {
		return nil, fmt.Errorf("%w: %v trades per second (want 0 for the default, or up to %g)", ErrBadTradeRate, opts.TradeRate, float64(MaxTradeRate))
	}
	h := &Handler{
		mux:       http.NewServeMux(),
		log:       opts.Logger,
		now:       opts.Now,
		sleep:     opts.Sleep,
		keepTimes: opts.KeepTimes,
		exchanges: map[string]*exchange{},
		closing:   make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "replay")
	if h.now == nil {
		h.now = time.Now
	}
	if h.sleep == nil {
		h.sleep = sleepCtx
	}
	h.faults.rnd = opts.Seed
	h.stats.init()
	h.keys.reset(opts.KeyLog)
	h.limits.strict, h.limits.banFor = opts.Strict, opts.BanFor
	h.limits.init()
	for name, on := range opts.RateLimits {
		if !knownExchange(name) {
			return nil, fmt.Errorf("%w %q in rate limits", ErrUnknownExchange, name)
		}
		h.limits.enforce(name, on)
	}
	for name, b := range opts.Budgets {
		if !knownExchange(name) {
			return nil, fmt.Errorf("%w %q in budgets", ErrUnknownExchange, name)
		}
		if !b.valid() {
			return nil, fmt.Errorf("%w: %s: limit and window must be positive", ErrBadBudget, name)
		}
		h.limits.setBudget(name, b)
	}
	for _, f := range opts.Faults {
		if err := h.faults.add(f); err != nil {
			return nil, err
		}
	}
	for _, def := range definitions() {
		x, err := newExchange(def, opts.Fixtures, syms, tradeSpacing(opts.TradeRate))
		if err != nil {
			return nil, err
		}
		h.exchanges[def.name] = x
		for i := range def.routes {
			rt := &def.routes[i]
			pattern := "GET /" + def.name + rt.path
			if strings.HasSuffix(rt.path, "/") {
				pattern += "{$}"
			}
			h.mux.Handle(pattern, h.serveRoute(x, rt))
		}
		h.mux.Handle("/"+def.name+"/", h.serveRoute(x, &route{path: "(unknown)", kind: "", serve: func(c *call) reply {
			return c.fail(errNotFound, "no such endpoint: "+c.r.URL.Path)
		}}))
	}
	h.adminRoutes()
	return h, nil
}

func knownExchange(name string) bool {
	for _, e := range Exchanges {
		if e == name {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close releases requests held by hang faults; call it before shutting the
// server down.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exchange is one exchange's state: its definition, templates and symbols.
type exchange struct {
	def     *exchangeDef
	syms    []symbol
	byID    map[string]symbol
	tmpl    map[string]any
	series  map[symbol]series
	anchor  int64 // ms: the recording time; the data clock with KeepTimes
	reverse map[symbol]string
	spacing int64 // mean µs between derived trades
}

func newExchange(def *exchangeDef, fsys fs.FS, syms []symbol, spacing int64) (*exchange, error) {
	x := &exchange{def: def, syms: syms, byID: map[string]symbol{}, tmpl: map[string]any{},
		series: map[symbol]series{}, reverse: map[symbol]string{}, spacing: spacing}
	for _, name := range def.files {
		p := def.name + "/" + name + ".json"
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFixtures, err)
		}
		v, err := decodeJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%w: decoding %s: %w", ErrFixtures, p, err)
		}
		x.tmpl[name] = v
	}
	for _, s := range syms {
		ids := def.ids(s)
		x.reverse[s] = ids[0]
		for _, id := range ids {
			x.byID[id] = s
		}
	}
	p, err := def.params(x)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFixtures, def.name, err)
	}
	x.anchor = p.anchor
	for _, s := range syms {
		x.series[s] = newSeries(s, def.name, p.price, p.amount, spacing)
	}
	return x, nil
}

// id is the exchange's canonical id for a symbol.
func (x *exchange) id(s symbol) string { return x.reverse[s] }

// seriesParams are what a recording says about price level and activity.
type seriesParams struct {
	anchor int64 // ms of the recorded ticker
	price  float64
	amount float64
}

// errKind classifies the errors an exchange answers with its own shape.
type errKind int

const (
	errUnknownSymbol errKind = iota
	errBadParam
	errNotFound
)

// exchangeDef describes one exchange: its ids, routes, limits and error
// shapes. Each is built in its own file.
type exchangeDef struct {
	name  string
	files []string              // fixture names under testdata/replay/<name>/
	ids   func(symbol) []string // accepted ids, the canonical one first
	rate  map[string]rateSpec   // by route group ("" = the whole exchange)
	fail  func(c *call, kind errKind, msg string) reply
	// limited answers a request over the rate limit.
	limited func(c *call, retry time.Duration) reply
	// banned answers a banned client (strict mode); nil: the exchange
	// documents no ban, and keeps answering limited.
	banned func(c *call, retry time.Duration) reply
	// headers adds rate-limit usage headers to every answer.
	headers func(w http.Header, used, limit int, reset time.Duration)
	params  func(x *exchange) (seriesParams, error)
	routes  []route
}

// route is one endpoint.
type route struct {
	path  string // after /<exchange>; ServeMux wildcards, e.g. /products/{id}/book
	kind  string // data type counted in stats: markets, ticker, tickers, orderbook, ohlcv, trades
	group string // rate-limit group; "" = exchange-wide
	cost  func(q url.Values) int
	serve func(c *call) reply
}

// reply is an answer before encoding.
type reply struct {
	status int
	body   any
	raw    []byte // served verbatim when set
	header http.Header
	rows   int
}

func ok(body any, rows int) reply { return reply{status: http.StatusOK, body: body, rows: rows} }

// call is one request being served.
type call struct {
	h     *Handler
	x     *exchange
	r     *http.Request
	q     url.Values
	route *route
	now   int64     // the data clock, ms
	keys  *callKeys // with the key log on: what this answer serves
}

// tmpl returns a private copy of a template.
func (c *call) tmpl(name string) any { return clone(c.x.tmpl[name]) }

// shift is how far a recorded time moves: to now, or nowhere with KeepTimes.
func (c *call) shift(recordedMs int64) int64 {
	if c.h.keepTimes {
		return 0
	}
	return c.now - recordedMs
}

func (c *call) fail(kind errKind, msg string) reply { return c.x.def.fail(c, kind, msg) }

// symbol resolves a required symbol parameter (query or path).
func (c *call) symbol(param string) (symbol, string, *reply) {
	id := c.r.PathValue(param)
	if id == "" {
		id = c.q.Get(param)
	}
	if id == "" {
		rp := c.fail(errBadParam, "missing parameter "+param)
		return symbol{}, "", &rp
	}
	s, found := c.x.byID[id]
	if !found {
		rp := c.fail(errUnknownSymbol, id)
		return symbol{}, "", &rp
	}
	return s, c.x.id(s), nil
}

// intParam reads an optional integer parameter; def when absent.
func (c *call) intParam(name string, def int64) (int64, *reply) {
	v := c.q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			rp := c.fail(errBadParam, "invalid "+name)
			return 0, &rp
		}
		n = int64(f)
	}
	return n, nil
}

// limitParam reads a page size with the exchange's default and maximum;
// above the maximum it is clamped, as most exchanges do.
func (c *call) limitParam(name string, def, maxN int) (int, *reply) {
	n, rp := c.intParam(name, int64(def))
	if rp != nil {
		return 0, rp
	}
	if n <= 0 {
		n = int64(def)
	}
	return int(min(n, int64(maxN))), nil
}

// args reads a request's parameters in turn and keeps the reply of the
// first that fails, skipping the reads after it, so that a handler reads
// what it needs and then checks once (as wire.Fields does for a row).
type args struct {
	c   *call
	bad *reply
}

func (c *call) args() *args { return &args{c: c} }

// symbol is call.symbol.
func (a *args) symbol(param string) (symbol, string) {
	if a.bad != nil {
		return symbol{}, ""
	}
	s, id, rp := a.c.symbol(param)
	a.bad = rp
	return s, id
}

// int is call.intParam.
func (a *args) int(name string, def int64) int64 {
	if a.bad != nil {
		return 0
	}
	n, rp := a.c.intParam(name, def)
	a.bad = rp
	return n
}

// limit is call.limitParam.
func (a *args) limit(name string, def, maxN int) int {
	if a.bad != nil {
		return 0
	}
	n, rp := a.c.limitParam(name, def, maxN)
	a.bad = rp
	return n
}

// check fails with kind and msg where ok is false, in turn with the reads.
func (a *args) check(ok bool, kind errKind, msg string) {
	if a.bad == nil && !ok {
		rp := a.c.fail(kind, msg)
		a.bad = &rp
	}
}

func (c *call) series(s symbol) series {
	ser := c.x.series[s]
	if c.keys != nil {
		ser.keys = &seriesKeys{call: c.keys, symbol: s.String()}
	}
	return ser
}

// dataNow is the data clock: wall time, or the recording time with KeepTimes.
func (h *Handler) dataNow(x *exchange) int64 {
	if h.keepTimes {
		return x.anchor
	}
	return h.now().UnixMilli()
}

func (h *Handler) serveRoute(x *exchange, rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := x.def.name
		h.stats.request(ex, rt.path)
		w.Header().Set(SyntheticHeader, "1")
		c := &call{h: h, x: x, r: r, q: r.URL.Query(), route: rt, now: h.dataNow(x)}
		if h.keys.enabled() {
			c.keys = &callKeys{}
		}

		latency, fault := h.faults.pick(ex, rt.path, r.URL.Path)
		if latency > 0 {
			if err := h.sleep(r.Context(), latency); err != nil {
				return
			}
		}
		if fault != nil {
			h.stats.fault(ex, rt.path)
			switch fault.Effect {
			case effectHang:
				select {
				case <-r.Context().Done():
				case <-h.closing:
				}
				return
			case effectStatus:
				h.write(w, c, h.faultReply(c, fault))
				return
			}
		}

		if spec, enforced := h.rateSpec(x, rt); enforced || spec.limit > 0 {
			cost := 1
			if rt.cost != nil {
				cost = rt.cost(c.q)
			}
			v := h.limits.take(ex, rt.group, spec, cost, h.now(), enforced, x.def.banned != nil)
			if v.banned {
				h.stats.banned(ex, rt.path)
				rp := x.def.banned(c, v.retry)
				rp.header = retryHeader(v.retry)
				h.write(w, c, rp)
				return
			}
			if x.def.headers != nil {
				x.def.headers(w.Header(), v.used, spec.limit, v.retry)
			}
			if !v.allowed {
				h.stats.limited(ex, rt.path)
				h.write(w, c, x.def.limited(c, v.retry))
				return
			}
		}

		rp := rt.serve(c)
		if rp.status == http.StatusOK && rt.kind != "" {
			h.stats.rows(ex, rt.path, rt.kind, rp.rows)
		} else if rp.status != http.StatusOK {
			h.stats.failed(ex, rt.path)
		}
		if fault != nil {
			rp.raw = mangle(h.encode(rp), fault.Effect)
		} else if c.keys != nil && rp.status == http.StatusOK && rt.kind != "" {
			h.keys.served(ex, rt.kind, rp.rows, c.keys)
		}
		h.write(w, c, rp)
	})
}

func (h *Handler) rateSpec(x *exchange, rt *route) (rateSpec, bool) {
	spec, found := x.def.rate[rt.group]
	if !found {
		spec = x.def.rate[""]
	}
	spec = h.limits.spec(x.def.name, spec)
	return spec, spec.limit > 0 && h.limits.enforced(x.def.name)
}

func (h *Handler) encode(rp reply) []byte {
	if rp.raw != nil {
		return rp.raw
	}
	b, err := json.Marshal(rp.body)
	if err != nil {
		h.log.Error("encoding reply", "err", err)
		return []byte(`{}`)
	}
	return b
}

func (h *Handler) write(w http.ResponseWriter, c *call, rp reply) {
	for k, vs := range rp.header {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	// The server's clock, which clients align the exchanges' windows to.
	w.Header().Set("Date", c.h.now().UTC().Format(http.TimeFormat))
	body := h.encode(rp)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rp.status == 0 {
		rp.status = http.StatusOK
	}
	w.WriteHeader(rp.status)
	if _, err := w.Write(body); err != nil {
		h.log.Debug("writing reply", "exchange", c.x.def.name, "path", c.r.URL.Path, "err", err)
	}
}

// mangle breaks a body the way a faulty network or proxy does.
func mangle(b []byte, effect string) []byte {
	switch effect {
	case effectTruncate:
		return b[:len(b)/2]
	case effectMalformed:
		out := []byte(string(b))
		for _, sep := range []byte{':', ','} {
			for i, ch := range out {
				if ch == sep {
					out[i] = ' '
					return out
				}
			}
		}
		return append([]byte("<html>"), out...)
	}
	return b
}

// faultReply answers an injected status fault in the exchange's own error
// shape where it has one (429 as its rate-limit answer).
func (h *Handler) faultReply(c *call, f *Fault) reply {
	retry := time.Duration(f.RetryAfter) * time.Second
	var rp reply
	switch f.Status {
	case http.StatusTooManyRequests:
		if retry == 0 {
			retry = time.Second
		}
		rp = c.x.def.limited(c, retry)
		rp.status = http.StatusTooManyRequests
	case http.StatusTeapot:
		rp = reply{body: object{{"code", json.Number("-1003")}, {"msg", "Way too much request weight used; IP banned (injected fault)."}}}
	default:
		rp = reply{body: object{{"error", http.StatusText(f.Status)}, {"message", "injected fault"}}}
	}
	rp.status = f.Status
	if rp.header == nil {
		rp.header = http.Header{}
	}
	if retry > 0 {
		rp.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	}
	return rp
}

// Routes lists each exchange's route paths, for the admin API and docs.
func (h *Handler) Routes() map[string][]string {
	out := map[string][]string{}
	for name, x := range h.exchanges {
		for _, rt := range x.def.routes {
			out[name] = append(out[name], rt.path)
		}
		sort.Strings(out[name])
	}
	return out
}
