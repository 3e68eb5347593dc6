package daemon

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/egress"
	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/httpclient"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

// ClientDeps are what every exchange client shares.
type ClientDeps struct {
	Redis      redis.Scripter // shares rate budgets and freezes between processes on the egress; nil: local only
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Observer   func(httpclient.Attempt) // every request attempt, for ops.request_metrics
}

// Client is one exchange's connector and the HTTP client behind it.
type Client struct {
	exchange.Connector
	HTTP    *httpclient.Client
	Limiter *ratelimit.Limiter
}

// NewClient builds exchange id's client from the configuration: the real
// API and limits unless base_url or rate_limit override them.
func NewClient(cfg config.Config, id string, deps ClientDeps) (*Client, error) {
	c, ok := registry.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("no connector for exchange %q", id)
	}
	ex := cfg.Exchanges[id]
	spec := c.Spec()
	rl := effectiveLimit(spec.RateLimit, ex.RateLimit)
	reserve := config.DefaultReserve
	if ex.RateLimit.Reserve != nil {
		reserve = *ex.RateLimit.Reserve
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	lim, err := ratelimit.New(ratelimit.Options{
		Exchange: id, Kind: ratelimit.Kind(rl.Kind), Limit: rl.Limit, Window: rl.Window, Burst: rl.Burst, Reserve: reserve,
		Shared: deps.Redis, Egress: egress.ID(cfg.EgressID), Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("rate limiter for %s: %w", id, err)
	}
	o := httpclient.SpecOptions(spec)
	o.BaseURL = effectiveBaseURL(spec, ex)
	o.Timeout = ex.Timeout.D()
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	o.Limiter, o.Logger, o.Registerer, o.Observer = lim, logger, reg, deps.Observer // it tags component and exchange
	hc, err := httpclient.New(o)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", id, err)
	}
	return &Client{Connector: c.New(hc), HTTP: hc, Limiter: lim}, nil
}

// Effective returns cfg with every exchange's base URL and rate limit as
// the daemon uses them: the configured override, else the exchange's real
// API and published limits.
func Effective(cfg config.Config) config.Config {
	out := cfg
	out.Exchanges = make(config.ExchangeMap, len(cfg.Exchanges))
	for id, ex := range cfg.Exchanges {
		if c, ok := registry.Lookup(id); ok {
			spec := c.Spec()
			ex.BaseURL = effectiveBaseURL(spec, ex)
			rl := effectiveLimit(spec.RateLimit, ex.RateLimit)
			ex.RateLimit.Limit, ex.RateLimit.Window, ex.RateLimit.Burst, ex.RateLimit.Kind = rl.Limit, config.Duration(rl.Window), rl.Burst, rl.Kind
			if ex.RateLimit.Reserve == nil {
				r := config.DefaultReserve
				ex.RateLimit.Reserve = &r
			}
		}
		out.Exchanges[id] = ex
	}
	return out
}

func effectiveBaseURL(spec exchange.Spec, ex config.ExchangeConfig) string {
	if ex.BaseURL != "" {
		return ex.BaseURL
	}
	return spec.BaseURL
}

// effectiveLimit is the exchange's published limit with the configured
// fields laid over it.
func effectiveLimit(rl exchange.RateLimit, over config.RateLimitConfig) exchange.RateLimit {
	if over.Limit > 0 {
		rl.Limit = over.Limit
	}
	if over.Window > 0 {
		rl.Window = over.Window.D()
	}
	if over.Burst > 0 {
		rl.Burst = over.Burst
	}
	if over.Kind != "" {
		rl.Kind = over.Kind
	}
	return rl
}
