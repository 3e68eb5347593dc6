// Package httpclient is one exchange's resilient REST client. A Get passes
// through clearly separated steps, outermost first:
//
//	breaker (per exchange; open after repeated failures of the exchange)
//	  retry (exponential backoff with jitter; Retry-After honoured up to a cap)
//	    rate limit (the request's weight and priority, from its context)
//	      transport (keep-alive pool, TLS verified) + body checks
//
// Every attempt is measured (Prometheus) and reported to an Observer hook,
// so that the store can write ops.request_metrics without this package
// knowing about it.
package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

// Client defaults.
const (
	DefaultTimeout             = 30 * time.Second
	DefaultMaxBodyBytes        = 32 << 20
	DefaultBanFreeze           = 2 * time.Minute
	DefaultMaxIdleConnsPerHost = 16
	DefaultUserAgent           = "mdingest"
)

// Limiter is what the client needs of the exchange's rate limiter
// (*ratelimit.Limiter). Acquire reads the request's priority from ctx; the
// client finishes every ticket with what the answer's headers said.
type Limiter interface {
	Acquire(ctx context.Context, cost int) (*ratelimit.Ticket, error)
	Freeze(until time.Time)
}

// Outcome of one attempt.
type Outcome string

// Outcomes.
const (
	OutcomeOK    Outcome = "ok"
	OutcomeRetry Outcome = "retry" // failed, and will be retried
	OutcomeError Outcome = "error" // failed, and the Get fails with it
)

// Attempt describes one HTTP attempt, for ops.request_metrics.
type Attempt struct {
	Time          time.Time // when the attempt started (after any rate-limit wait)
	Exchange      string
	Endpoint      string
	HTTPStatus    int // 0 when no response arrived
	Latency       time.Duration
	Attempt       int // 1 for the first try
	Outcome       Outcome
	ErrorCategory Category // empty on success
}

// Options configures a Client.
type Options struct {
	Exchange string // CCXT id; required
	// BaseURL is the API root, possibly with a path prefix
	// (http://127.0.0.1:8700/binance). Plain http only for loopback hosts.
	BaseURL      string
	Timeout      time.Duration // per attempt, including reading the body; default 30s
	MaxBodyBytes int64         // a larger body fails with ErrBodyTooLarge; default 32 MiB
	// Limiter spends each request's weight before it is sent, learns from
	// each answer's Date and UsedWeightHeader, and is frozen on bans. Nil:
	// no rate limiting.
	Limiter Limiter
	// UsedWeightHeader is the response header reporting units used in the
	// exchange's window (exchange.RateLimit.UsedHeader), if any.
	UsedWeightHeader string
	// CheckBody is exchange.Spec.CheckBody: an error for a 2xx body that
	// reports a failure. Errors wrapping exchange.ErrBodyRateLimited are
	// retried.
	CheckBody func(body []byte) error
	Retry     RetryPolicy
	Breaker   BreakerSettings
	// BanFreeze is how long a 418 without Retry-After freezes the exchange.
	// Default 2m.
	BanFreeze           time.Duration
	MaxIdleConnsPerHost int            // keep-alive pool size per host; default 16
	RootCAs             *x509.CertPool // nil: the system's. Verification is always on.
	UserAgent           string         // default "mdingest"
	// Observer is called synchronously after every attempt, possibly from
	// several goroutines at once; keep it quick.
	Observer   func(Attempt)
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	Clock      clockwork.Clock       // for retry waits and freezes; nil: the real clock
}

// Client is one exchange's HTTP client. It implements exchange.Requester and
// is safe for concurrent use. Close it to release idle connections.
type Client struct {
	exchange   string
	base       string // without trailing slash
	timeout    time.Duration
	maxBody    int64
	limiter    Limiter
	usedHeader string
	checkBody  func([]byte) error
	retry      RetryPolicy
	banFreeze  time.Duration
	userAgent  string
	observer   func(Attempt)
	log        *slog.Logger
	clock      clockwork.Clock
	m          *metrics
	transport  *http.Transport
	http       *http.Client
	breaker    *gobreaker.CircuitBreaker[[]byte]
}

var _ exchange.Requester = (*Client)(nil)

// New returns a client for one exchange.
func New(opts Options) (*Client, error) {
	if opts.Exchange == "" {
		return nil, fmt.Errorf("%w: exchange is required", ErrInvalidOptions)
	}
	base, err := parseBaseURL(opts.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidOptions, opts.Exchange, err)
	}
	if opts.Timeout < 0 || opts.MaxBodyBytes < 0 || opts.BanFreeze < 0 || opts.MaxIdleConnsPerHost < 0 {
		return nil, fmt.Errorf("%w: %s: negative timeout, body size, ban freeze or pool size", ErrInvalidOptions, opts.Exchange)
	}
	c := &Client{
		exchange:   opts.Exchange,
		base:       base,
		timeout:    cmpOr(opts.Timeout, DefaultTimeout),
		maxBody:    cmpOr(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		limiter:    opts.Limiter,
		usedHeader: opts.UsedWeightHeader,
		checkBody:  opts.CheckBody,
		retry:      opts.Retry.withDefaults(),
		banFreeze:  cmpOr(opts.BanFreeze, DefaultBanFreeze),
		userAgent:  cmpOr(opts.UserAgent, DefaultUserAgent),
		observer:   opts.Observer,
		log:        opts.Logger,
		clock:      opts.Clock,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "httpclient", "exchange", c.exchange)
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	if c.m, err = newMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("registering http client metrics: %w", err)
	}
	c.breaker = newBreaker(c.exchange, opts.Breaker, c.log)
	if err := breakerGauge(opts.Registerer, c.exchange, c.State); err != nil {
		return nil, fmt.Errorf("registering circuit state metric: %w", err)
	}
	c.transport = newTransport(cmpOr(opts.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost), opts.RootCAs)
	c.http = &http.Client{Transport: c.transport, CheckRedirect: checkRedirect}
	return c, nil
}

// SpecOptions returns the Options that come from an exchange's Spec: id,
// base URL, used-weight header and body check. The caller adds the
// limiter, logger, registerer, observer and any configured overrides.
func SpecOptions(spec exchange.Spec) Options {
	return Options{
		Exchange:         spec.ID,
		BaseURL:          spec.BaseURL,
		UsedWeightHeader: spec.RateLimit.UsedHeader,
		CheckBody:        spec.CheckBody,
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close releases the idle keep-alive connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// State returns the circuit breaker's state.
func (c *Client) State() State { return fromGobreaker(c.breaker.State()) }

// Degraded reports whether the exchange is failing: its circuit is open or
// probing (half-open).
func (c *Client) Degraded() bool { return c.State() != StateClosed }

// Get sends r and returns the body of its successful response.
func (c *Client) Get(ctx context.Context, r exchange.Request) ([]byte, error) {
	endpoint := cmpOr(r.Endpoint, "unknown")
	body, err := c.breaker.Execute(func() ([]byte, error) {
		b, err := c.withRetry(ctx, r, endpoint)
		if err != nil && ctx.Err() != nil {
			return nil, callerGone{err}
		}
		return b, err
	})
	if err == nil {
		return body, nil
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		c.m.requests.WithLabelValues(c.exchange, endpoint, string(OutcomeError), string(CategoryCircuitOpen)).Inc()
		return nil, fmt.Errorf("getting %s %s: %w", c.exchange, endpoint, ErrCircuitOpen)
	}
	var gone callerGone
	if errors.As(err, &gone) {
		err = gone.err
	}
	return nil, err
}

// withRetry runs attempts until one succeeds, a failure is not worth
// retrying, or the policy's bounds are reached.
func (c *Client) withRetry(ctx context.Context, r exchange.Request, endpoint string) ([]byte, error) {
	target := c.resolve(r.Path)
	bo := c.retry.backoff()
	for n := 1; ; n++ {
		if err := c.checkFrozen(); err != nil {
			return nil, fmt.Errorf("getting %s %s: %w", c.exchange, endpoint, err)
		}
		var ticket *ratelimit.Ticket
		if c.limiter != nil {
			var err error
			if ticket, err = c.limiter.Acquire(ctx, max(r.Weight, 1)); err != nil {
				return nil, fmt.Errorf("getting %s %s: waiting for the rate limit: %w", c.exchange, endpoint, err)
			}
		}
		started := c.clock.Now()
		t0 := time.Now()
		body, status, err := c.attempt(ctx, target, endpoint, ticket)
		latency := time.Since(t0)

		outcome, wait := OutcomeOK, time.Duration(0)
		if err != nil {
			outcome = OutcomeError
			if d, ok := c.nextWait(ctx, err, n, bo); ok {
				outcome, wait = OutcomeRetry, d
			}
		}
		c.record(Attempt{
			Time: started, Exchange: c.exchange, Endpoint: endpoint, HTTPStatus: status,
			Latency: latency, Attempt: n, Outcome: outcome, ErrorCategory: categorize(err),
		})
		switch outcome {
		case OutcomeOK:
			return body, nil
		case OutcomeError:
			return nil, fmt.Errorf("getting %s %s (attempt %d): %w", c.exchange, endpoint, n, err)
		}
		c.m.retries.WithLabelValues(c.exchange, endpoint).Inc()
		c.log.DebugContext(ctx, "retrying", "endpoint", endpoint, "attempt", n, "wait", wait, "error", err)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("getting %s %s: waiting to retry: %w", c.exchange, endpoint, err)
		}
	}
}

// checkFrozen fails at once when the limiter is frozen for longer than a
// request would wait for a Retry-After (a long ban): better a clear error
// than callers hanging for hours.
func (c *Client) checkFrozen() error {
	f, ok := c.limiter.(interface{ FrozenUntil() time.Time })
	if !ok {
		return nil
	}
	if until := f.FrozenUntil(); until.Sub(c.clock.Now()) > c.retry.MaxRetryAfter {
		return fmt.Errorf("%w until %s", ErrFrozen, until.UTC().Format(time.RFC3339))
	}
	return nil
}

// nextWait decides whether attempt n's error is retried, and after how long.
func (c *Client) nextWait(ctx context.Context, err error, n int, bo backoff.BackOff) (time.Duration, bool) {
	if ctx.Err() != nil || !retryable(err) || n >= c.retry.MaxAttempts {
		return 0, false
	}
	d := bo.NextBackOff()
	if d == backoff.Stop {
		return 0, false
	}
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		if se.RetryAfter > c.retry.MaxRetryAfter {
			return 0, false
		}
		d = max(d, se.RetryAfter)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return 0, false // the caller would give up before the retry
	}
	return d, true
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) record(a Attempt) {
	category := string(a.ErrorCategory)
	if category == "" {
		category = "none"
	}
	c.m.requests.WithLabelValues(a.Exchange, a.Endpoint, string(a.Outcome), category).Inc()
	c.m.latency.WithLabelValues(a.Exchange, a.Endpoint).Observe(a.Latency.Seconds())
	if c.observer != nil {
		c.observer(a)
	}
}

// resolve appends path (with its query) to the base URL.
func (c *Client) resolve(path string) string {
	if path == "" {
		return c.base
	}
	return c.base + "/" + strings.TrimPrefix(path, "/")
}

// attempt sends one GET and returns the body of a good response, the HTTP
// status (0 without a response) and the attempt's error. It settles the
// rate-limit ticket with the answer's headers as soon as they arrive.
func (c *Client) attempt(ctx context.Context, target, endpoint string, ticket *ratelimit.Ticket) ([]byte, int, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		ticket.Finish(ratelimit.Report{})
		return nil, 0, fmt.Errorf("%w: %w", errBuildingRequest, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		ticket.Finish(ratelimit.Report{})
		return nil, 0, err
	}
	defer resp.Body.Close()
	ticket.Finish(c.report(resp.Header))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, c.statusError(resp)
	}
	body, err := readBody(resp.Body, resp.ContentLength, c.maxBody)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	// Every exchange answers JSON: a body that is not (truncated, garbled)
	// is recorded as a decode failure here, with its payload kept for
	// ops.rejected_rows, rather than passing as a success.
	if !json.Valid(body) {
		return nil, resp.StatusCode, &StatusError{
			Status: resp.StatusCode, Category: CategoryDecode, Body: snippet(body),
			Err: &exchange.DecodeError{Exchange: c.exchange, Endpoint: endpoint, Payload: body, Err: errInvalidJSON},
		}
	}
	if c.checkBody != nil {
		if err := c.checkBody(body); err != nil {
			return nil, resp.StatusCode, &StatusError{
				Status: resp.StatusCode, Category: bodyCategory(err), Body: snippet(body), Err: err,
			}
		}
	}
	return body, resp.StatusCode, nil
}

// statusError builds the error for a non-2xx response and freezes the
// exchange on a ban or a rate limit with a stated end.
func (c *Client) statusError(resp *http.Response) error {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetLimit))
	// Drain a little more so a small error body leaves the connection
	// reusable; a large one is not worth reading.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	se := &StatusError{
		Status:     resp.StatusCode,
		Category:   statusCategory(resp.StatusCode),
		RetryAfter: parseRetryAfter(resp.Header, c.clock.Now()),
		Body:       snippet(head),
	}
	switch {
	case se.Category == CategoryBanned:
		c.freeze(cmpOr(se.RetryAfter, c.banFreeze), se)
	case se.Category == CategoryRateLimited && se.RetryAfter > 0:
		c.freeze(se.RetryAfter, se)
	}
	return se
}

// freeze stops every request to the exchange, not only the failing one:
// carrying on after a 429 is what earns a ban.
func (c *Client) freeze(d time.Duration, cause *StatusError) {
	if c.limiter == nil {
		return
	}
	until := c.clock.Now().Add(d)
	c.log.Warn("freezing exchange", "status", cause.Status, "for", d, "until", until)
	c.limiter.Freeze(until)
}

// report reads what an answer says about the rate budget: the server's
// clock (Date), which tells the window that counted the request, and the
// usage the exchange reports in that window.
func (c *Client) report(h http.Header) ratelimit.Report {
	var r ratelimit.Report
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		r.Date = d
	}
	if c.usedHeader == "" {
		return r
	}
	v := h.Get(c.usedHeader)
	if v == "" {
		return r
	}
	used, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || used < 0 || math.IsNaN(used) || math.IsInf(used, 0) {
		c.log.Debug("unparsable used-weight header", "header", c.usedHeader, "value", v)
		return r
	}
	r.Used, r.HasUsed = used, true
	return r
}

// readBody reads at most limit bytes; a longer body is ErrBodyTooLarge,
// found out after reading limit+1 bytes at most.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrBodyTooLarge, contentLength, limit)
	}
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(contentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	return buf.Bytes(), nil
}

func snippet(b []byte) string {
	if len(b) > snippetLimit {
		b = b[:snippetLimit]
	}
	return strings.ToValidUTF8(string(b), "�")
}

// parseBaseURL checks the base URL and returns it without a trailing slash.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base URL %q: %w", raw, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("base URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q: must not have a query or fragment", raw)
	}
	if err := checkScheme(u); err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkScheme allows https anywhere and plain http only to this machine,
// where exchange-replay runs.
func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("URL %q: %w", u.Redacted(), errInsecureURL)
	default:
		return fmt.Errorf("URL %q: %w", u.Redacted(), errInsecureURL)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirect applies the base URL's rules to redirects, so a redirect
// cannot downgrade to plain http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errTooManyRedirect
	}
	return checkScheme(req.URL)
}

// newTransport is a keep-alive pool with TLS verification always on.
func newTransport(idlePerHost int, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * idlePerHost,
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
	}
}
