package backfill_test

import (
	"context"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/binance"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/ingest"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/replay"
	"github.com/mdingest/mdingest/internal/replay/replaytest"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/writer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

var (
	btc = market.Symbol("BTC/USDT")
	eth = market.Symbol("ETH/USDT")
	sol = market.Symbol("SOL/USDT")
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// call is one successful request seen by the counting requester.
type call struct {
	endpoint string
	symbol   string
	start    int64 // startTime, ms
	limit    int
}

// counter is a Requester that records what it forwards and the priority
// each request carried.
type counter struct {
	next exchange.Requester
	mu   sync.Mutex
	ok   []call
	prio map[priority.Priority]int
}

func (c *counter) Get(ctx context.Context, r exchange.Request) ([]byte, error) {
	body, err := c.next.Get(ctx, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prio[priority.From(ctx)]++
	if err == nil {
		u, perr := url.Parse(r.Path)
		if perr != nil {
			return nil, perr
		}
		q := u.Query()
		start, _ := strconv.ParseInt(q.Get("startTime"), 10, 64)
		limit, _ := strconv.Atoi(q.Get("limit"))
		c.ok = append(c.ok, call{endpoint: r.Endpoint, symbol: q.Get("symbol"), start: start, limit: limit})
	}
	return body, err
}

// take returns the calls seen since the last take.
func (c *counter) take() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.ok
	c.ok = nil
	return out
}

// env is a migrated database, the exchange replay in-process and a
// Binance connector reaching it through the real HTTP client.
type env struct {
	store  *store.Store
	db     *pgxpool.Pool // the test's own look at the database
	replay *replay.Handler
	clock  *replaytest.Clock
	req    *counter
	conn   *binance.Connector
}

func newEnv(t testing.TB, now time.Time) *env {
	t.Helper()
	return newEnvOn(t, pgtest.MigratedDB(t), now)
}

// newEnvOn is newEnv on the migrated database at url.
func newEnvOn(t testing.TB, url string, now time.Time) *env {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	ck := replaytest.NewClock(now)
	srv := replaytest.NewServer(t, replay.Options{Symbols: []string{"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}, Now: ck.Now}, nil)

	opts := httpclient.SpecOptions(binance.Spec())
	opts.BaseURL = srv.URL + "/binance"
	hc, err := httpclient.New(opts)
	require.NoError(t, err)
	t.Cleanup(hc.Close)
	req := &counter{next: hc, prio: map[priority.Priority]int{}}
	return &env{store: s, db: pgtest.Pool(t, url), replay: srv.Handler, clock: ck, req: req, conn: binance.New(req)}
}

func (e *env) backfiller(t *testing.T, conn exchange.Connector, mod func(*backfill.Options)) *backfill.Backfiller {
	t.Helper()
	if conn == nil {
		conn = e.conn
	}
	opts := backfill.Options{
		Connector: conn, Sink: e.store, Checks: e.road(t, conn), Journal: backfill.NewJournal(e.store),
		Timeframe: market.TF1m, Now: e.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	b, err := backfill.New(opts)
	require.NoError(t, err)
	return b
}

// road is the daemon's road for conn's rows, as the commands build it: the
// default quality checks, rows written synchronously.
func (e *env) road(t *testing.T, conn exchange.Connector) *ingest.Pipeline {
	t.Helper()
	checker, err := quality.NewChecker(quality.DefaultConfig())
	require.NoError(t, err)
	direct := writer.Synchronous{Store: e.store}
	p, err := ingest.New(ingest.Options{Fetcher: conn, Checker: checker, Sink: direct, Rejects: direct, Now: e.clock.Now})
	require.NoError(t, err)
	return p
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// klineRequests is how many klines requests the replay answered.
func (e *env) klineRequests() int64 {
	st := e.replay.Stats()["binance"]
	if r := st.Routes["/api/v3/klines"]; r != nil {
		return r.Requests
	}
	return 0
}

// pages records stored pages and can cancel the run after a number of them.
type pages struct {
	mu       sync.Mutex
	events   []backfill.PageEvent
	cancelAt int
	cancel   context.CancelFunc
	plan     backfill.Plan
	sum      *backfill.Summary
}

func (p *pages) Start(pl backfill.Plan) { p.mu.Lock(); p.plan = pl; p.mu.Unlock() }

func (p *pages) Page(e backfill.PageEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
	if p.cancel != nil && len(p.events) == p.cancelAt {
		p.cancel()
	}
}

func (p *pages) Finish(s backfill.Summary) { p.mu.Lock(); p.sum = &s; p.mu.Unlock() }
