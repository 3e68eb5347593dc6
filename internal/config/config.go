// Package config is mdingest's one typed configuration: defaults in one
// place, then the YAML file, then the environment, then the flags the user
// set. Validate names the offending key; it never touches the network.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/mdingest/mdingest/internal/exchange/registry"
	"github.com/mdingest/mdingest/internal/market"
)

// Config is the whole configuration.
type Config struct {
	DatabaseURL Secret `yaml:"database_url"`
	RedisURL    Secret `yaml:"redis_url"`
	Listen      string `yaml:"listen"`
	LogFormat   string `yaml:"log_format"`
	LogLevel    string `yaml:"log_level"`
	// Instance names this daemon among those sharing a database: it is in
	// ops.job_runs, and its default spool directory is its own, so two
	// daemons on one host need two names. Default: the host name.
	Instance string `yaml:"instance"`
	// EgressID names the IP this instance's requests leave from: instances
	// with the same id share every exchange's rate budget (through Redis,
	// or else 1/N each), others keep their own. Empty: the host name.
	EgressID  string        `yaml:"egress_id"`
	Exchanges ExchangeMap   `yaml:"exchanges"`
	Jobs      JobsConfig    `yaml:"jobs"`
	Quality   QualityConfig `yaml:"quality"`
	Cache     CacheConfig   `yaml:"cache"`
	Store     StoreConfig   `yaml:"store"`
}

// ExchangeConfig is one exchange. Zero rate-limit values mean the
// exchange's real published limits.
type ExchangeConfig struct {
	Enabled         bool               `yaml:"enabled"`
	BaseURL         string             `yaml:"base_url"`
	Symbols         []market.Symbol    `yaml:"symbols"`
	CriticalSymbols []market.Symbol    `yaml:"critical_symbols"` // realtime tier; default: the first symbol
	RateLimit       RateLimitConfig    `yaml:"rate_limit"`
	Timeout         Duration           `yaml:"timeout"`
	Depth           int                `yaml:"depth"`
	Timeframes      []market.Timeframe `yaml:"timeframes"`
	Concurrency     int                `yaml:"concurrency"`
}

// RateLimitConfig overrides an exchange's budget, in its own unit. Zero
// values keep the exchange's own.
type RateLimitConfig struct {
	Limit  float64  `yaml:"limit"`
	Window Duration `yaml:"window"`
	Burst  int      `yaml:"burst"`
	// Kind is how the exchange counts: fixed (calendar windows on its
	// clock), sliding, or bucket.
	Kind string `yaml:"kind"`
	// Reserve is the share of the budget (0 to 0.5) that low and medium
	// priorities leave to high and critical ones; unset: DefaultReserve.
	Reserve *float64 `yaml:"reserve"`
}

// DefaultReserve is rate_limit.reserve when unset (ratelimit.DefaultReserve).
const DefaultReserve = 0.05

// WindowKinds are the valid rate_limit.kind values.
var WindowKinds = []string{"fixed", "sliding", "bucket"}

// validEgressID is what egress_id may hold: it names Redis keys.
var validEgressID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// JobsConfig is the interval of each scheduler tier.
type JobsConfig struct {
	Realtime         Duration `yaml:"realtime"`
	High             Duration `yaml:"high"`
	Medium           Duration `yaml:"medium"`
	Low              Duration `yaml:"low"`
	Daily            Duration `yaml:"daily"`
	Jitter           Duration `yaml:"jitter"`
	FailureThreshold int      `yaml:"failure_threshold"`
	GapFill          bool     `yaml:"gap_fill"`        // run gap filling as a daily, low-priority job
	GapFillWindow    Duration `yaml:"gap_fill_window"` // how far back it looks
	// CandleCatchup is how far back the candle job pages from a series'
	// cursor in one run (after a stop, say); older missing candles are left
	// to the gap fill.
	CandleCatchup Duration `yaml:"candle_catchup"`
}

// Metrics holds one value per quality metric.
type Metrics struct {
	Completeness float64 `yaml:"completeness"`
	Accuracy     float64 `yaml:"accuracy"`
	Consistency  float64 `yaml:"consistency"`
	Timeliness   float64 `yaml:"timeliness"`
	Validity     float64 `yaml:"validity"`
	Uniqueness   float64 `yaml:"uniqueness"`
}

func (m Metrics) fields() []struct {
	name string
	v    float64
} {
	return []struct {
		name string
		v    float64
	}{{"completeness", m.Completeness}, {"accuracy", m.Accuracy}, {"consistency", m.Consistency},
		{"timeliness", m.Timeliness}, {"validity", m.Validity}, {"uniqueness", m.Uniqueness}}
}

// QualityConfig sets thresholds and weights of the batch checks.
type QualityConfig struct {
	Thresholds      Metrics  `yaml:"thresholds"`
	Weights         Metrics  `yaml:"weights"`
	FutureTolerance Duration `yaml:"future_tolerance"`
	MaxSpread       float64  `yaml:"max_spread"`   // fraction of mid price
	OutlierMADs     float64  `yaml:"outlier_mads"` // bound in median absolute deviations
}

// CacheConfig sets the hot cache's TTLs.
type CacheConfig struct {
	Ticker     Duration `yaml:"ticker"`
	OrderBook  Duration `yaml:"orderbook"`
	OHLCV      Duration `yaml:"ohlcv"`
	OHLCVDaily Duration `yaml:"ohlcv_daily"`
	MaxEntries int      `yaml:"max_entries"` // in-process fallback size
}

// StoreConfig sets the loader and the database's time-series policies.
type StoreConfig struct {
	BatchSize     int                 `yaml:"batch_size"`
	FlushInterval Duration            `yaml:"flush_interval"`
	QueueSize     int                 `yaml:"queue_size"`
	SpoolDir      string              `yaml:"spool_dir"`
	SpoolMaxBytes int64               `yaml:"spool_max_bytes"`
	DrainTimeout  Duration            `yaml:"drain_timeout"` // how long a stop may take to write what is pending
	TimescaleDB   string              `yaml:"timescaledb"`   // auto | on | off
	Retention     map[string]Duration `yaml:"retention"`     // table -> age; 0 keeps forever
	CompressAfter map[string]Duration `yaml:"compress_after"`
}

// RetentionTables are the tables a retention or compression age may name.
var RetentionTables = []string{"candles", "tickers", "order_books", "trades", "request_metrics", "quality_reports", "rejected_rows", "job_runs"}

// Default returns the built-in configuration.
func Default() Config {
	ex := ExchangeMap{}
	for _, e := range registry.All() {
		ex[e.ID] = defaultExchange(e.Enabled)
	}
	return Config{
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/mdingest?sslmode=disable",
		Listen:      "127.0.0.1:9108",
		LogFormat:   "text",
		LogLevel:    "info",
		Exchanges:   ex,
		Jobs: JobsConfig{
			Realtime: Duration(5 * time.Second), High: Duration(30 * time.Second),
			Medium: Duration(5 * time.Minute), Low: Duration(15 * time.Minute),
			Daily: Duration(24 * time.Hour), Jitter: Duration(500 * time.Millisecond),
			FailureThreshold: 5, GapFill: true, GapFillWindow: Duration(7 * 24 * time.Hour),
			CandleCatchup: Duration(24 * time.Hour),
		},
		Quality: QualityConfig{
			Thresholds:      Metrics{Completeness: 0.95, Accuracy: 0.98, Consistency: 0.90, Timeliness: 0.95, Validity: 0.99, Uniqueness: 0.98},
			Weights:         Metrics{Completeness: 0.2, Accuracy: 0.2, Consistency: 0.15, Timeliness: 0.15, Validity: 0.2, Uniqueness: 0.1},
			FutureTolerance: Duration(5 * time.Second),
			MaxSpread:       0.1,
			OutlierMADs:     10,
		},
		Cache: CacheConfig{
			Ticker: Duration(30 * time.Second), OrderBook: Duration(5 * time.Second),
			OHLCV: Duration(5 * time.Minute), OHLCVDaily: Duration(time.Hour), MaxEntries: 100_000,
		},
		Store: StoreConfig{
			BatchSize: DefaultBatchSize, FlushInterval: Duration(DefaultFlushInterval), QueueSize: DefaultQueueSize,
			SpoolDir: "", SpoolMaxBytes: 1 << 30, DrainTimeout: Duration(20 * time.Second), TimescaleDB: "auto",
			Retention: map[string]Duration{
				"tickers": Duration(90 * 24 * time.Hour), "order_books": Duration(30 * 24 * time.Hour),
				"request_metrics": Duration(30 * 24 * time.Hour),
			},
			CompressAfter: map[string]Duration{
				"candles": Duration(30 * 24 * time.Hour), "tickers": Duration(7 * 24 * time.Hour),
				"order_books": Duration(2 * 24 * time.Hour), "trades": Duration(7 * 24 * time.Hour),
				"request_metrics": Duration(7 * 24 * time.Hour),
			},
		},
	}
}

// defaultExchange is an exchange's built-in setting, on where the
// registry says so, with the two most traded pairs.
func defaultExchange(enabled bool) ExchangeConfig {
	return ExchangeConfig{
		Enabled:     enabled,
		Symbols:     []market.Symbol{"BTC/USDT", "ETH/USDT"},
		Timeout:     Duration(30 * time.Second),
		Depth:       20,
		Timeframes:  []market.Timeframe{market.TF1m},
		Concurrency: 4,
	}
}

// Error is a configuration problem at one key.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

func (e *Error) Unwrap() error { return ErrInvalid }

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// LoadFile overlays the YAML at path onto c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{Key: "config", Msg: err.Error()}
	}
	return c.LoadYAML(b)
}

// LoadYAML overlays a YAML document onto c. Exchanges named in it start
// from their defaults, so a file may set just one field of one exchange.
func (c *Config) LoadYAML(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var ce *Error
		if errors.As(err, &ce) {
			return ce
		}
		var pe *posError
		if errors.As(err, &pe) {
			return &Error{Key: cmp.Or(keyAt(b, pe.line, pe.col), "config"), Msg: pe.Error()}
		}
		return &Error{Key: yamlKey(err), Msg: yamlMsg(err)}
	}
	c.normalize()
	return nil
}

// normalize upper-cases symbols, the form every other package compares.
func (c *Config) normalize() {
	for id, e := range c.Exchanges {
		for _, list := range [][]market.Symbol{e.Symbols, e.CriticalSymbols} {
			for i, s := range list {
				if n, err := market.ParseSymbol(string(s)); err == nil {
					list[i] = n
				}
			}
		}
		c.Exchanges[id] = e
	}
}

// Load builds the configuration from the defaults, the YAML file at path
// (skipped when path is "" or, unless required, when it does not exist)
// and the environment. Flags are applied by the caller.
func Load(path string, required bool, env Env) (Config, error) {
	c := Default()
	if path != "" {
		_, statErr := os.Stat(path)
		if statErr == nil || required {
			if err := c.LoadFile(path); err != nil {
				return c, err
			}
			if c.DatabaseURL.HasPassword() {
				return c, bad("database_url", "holds a password: secrets come from the environment (DATABASE_URL or PGPASSWORD), not the config file")
			}
		}
	}
	c.LoadEnv(env)
	return c, nil
}

// yamlKey pulls the field name out of yaml.v3's messages, which carry no
// structured key.
func yamlKey(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if i := strings.Index(msg, "field "); i >= 0 {
			rest := msg[i+len("field "):]
			if j := strings.Index(rest, " "); j >= 0 {
				return rest[:j]
			}
		}
	}
	return "config"
}

func yamlMsg(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

// ExchangeMap is the exchanges section. A file's map runs exactly the
// exchanges it names: a config pointed at exchange-replay must never reach
// a real exchange. Each named exchange is enabled and starts from its
// defaults, so a file may set one field of one exchange (yaml.v3 would
// otherwise replace the whole entry); the others stay known (fetch can
// still name them) but disabled.
type ExchangeMap map[string]ExchangeConfig

// UnmarshalYAML merges each entry onto its defaults, strictly.
func (m *ExchangeMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &Error{Key: "exchanges", Msg: "want a mapping of exchange id to settings"}
	}
	if *m == nil {
		*m = ExchangeMap{}
	}
	named := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		named[n.Content[i].Value] = true
	}
	for id, e := range *m {
		if !named[id] {
			e.Enabled = false
			(*m)[id] = e
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		id := n.Content[i].Value
		e, ok := (*m)[id]
		if !ok {
			e = defaultExchange(false)
		}
		e.Enabled = true // named: on unless the entry says enabled: false
		b, err := yaml.Marshal(n.Content[i+1])
		if err != nil {
			return &Error{Key: "exchanges." + id, Msg: err.Error()}
		}
		type plain ExchangeConfig
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode((*plain)(&e)); err != nil && !errors.Is(err, io.EOF) {
			key := "exchanges." + id
			var pe *posError
			if errors.As(err, &pe) {
				if k := keyAt(b, pe.line, pe.col); k != "" {
					key += "." + k
				}
				return &Error{Key: key, Msg: pe.Error()}
			}
			if k := yamlKey(err); k != "config" {
				key += "." + k
			}
			return &Error{Key: key, Msg: yamlMsg(err)}
		}
		(*m)[id] = e
	}
	return nil
}

// Env is the environment as a lookup function, so tests need not touch the
// process's environment.
type Env func(string) (string, bool)

// LoadEnv applies DATABASE_URL, REDIS_URL, MDINGEST_LISTEN,
// MDINGEST_LOG_FORMAT, MDINGEST_LOG_LEVEL and MDINGEST_EGRESS_ID.
func (c *Config) LoadEnv(env Env) {
	if v, ok := env("DATABASE_URL"); ok && v != "" {
		c.DatabaseURL = Secret(v)
	}
	if v, ok := env("REDIS_URL"); ok {
		c.RedisURL = Secret(v) // empty: in-process cache
	}
	if v, ok := env("MDINGEST_LISTEN"); ok && v != "" {
		c.Listen = v
	}
	if v, ok := env("MDINGEST_LOG_FORMAT"); ok && v != "" {
		c.LogFormat = v
	}
	if v, ok := env("MDINGEST_LOG_LEVEL"); ok && v != "" {
		c.LogLevel = v
	}
	if v, ok := env("MDINGEST_EGRESS_ID"); ok && v != "" {
		c.EgressID = v
	}
}

// The writer's defaults (store.*): the writer takes them from here, so a
// writer built without the configuration behaves as the default one.
const (
	DefaultBatchSize     = 5000
	DefaultFlushInterval = 250 * time.Millisecond
	DefaultQueueSize     = 64
)

// Bounds on sizes, counts and durations: a value past them is a typo or
// would exhaust memory (store.queue_size is a channel's capacity), so it
// is refused naming its key rather than crashing the daemon.
const (
	MaxSymbols       = 10_000
	MaxTimeframes    = 6
	MaxRateLimit     = 10_000_000
	MaxConcurrency   = 64
	MaxDepth         = 5000
	MaxTimeout       = 10 * time.Minute
	MaxRateWindow    = 24 * time.Hour
	MaxInterval      = 30 * 24 * time.Hour
	MaxJitter        = time.Hour
	MaxFailures      = 1000
	MaxGapFillWindow = 366 * 24 * time.Hour
	MaxCacheTTL      = 30 * 24 * time.Hour
	MaxCacheEntries  = 10_000_000
	MaxBatchSize     = 1_000_000
	MaxQueueSize     = 10_000
	MaxFlushInterval = time.Hour
	MaxSpoolBytes    = 1 << 40 // 1 TiB
	MaxDrainTimeout  = time.Hour
	MaxAge           = 100 * 365 * 24 * time.Hour
	MaxInstanceLen   = 64
)

// Validate checks every value and returns the first problem as an *Error
// naming its key.
func (c *Config) Validate() error {
	if c.DatabaseURL == "" {
		return bad("database_url", "must be set (flag --database-url, env DATABASE_URL or the config file)")
	}
	if err := checkURL(c.DatabaseURL.Reveal(), "postgres", "postgresql"); err != nil {
		return bad("database_url", "%v", err)
	}
	// pgx's own parse (no network) catches what url.Parse lets by, such as
	// a port out of range. Its message quotes no password.
	if _, err := pgconn.ParseConfig(c.DatabaseURL.Reveal()); err != nil {
		return bad("database_url", "%v", err) // pgconn redacts the password itself
	}
	if c.RedisURL != "" {
		if err := checkURL(c.RedisURL.Reveal(), "redis", "rediss", "unix"); err != nil {
			return bad("redis_url", "%v", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "want host:port, got %q", c.Listen)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log_format", "want text or json, got %q", c.LogFormat)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return bad("log_level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.EgressID != "" && !validEgressID.MatchString(c.EgressID) {
		return bad("egress_id", "want 1 to 64 of A-Z a-z 0-9 . _ -, got %q", c.EgressID)
	}
	if len(c.Instance) > MaxInstanceLen {
		return bad("instance", "at most %d characters, got %d", MaxInstanceLen, len(c.Instance))
	}
	ids := make([]string, 0, len(c.Exchanges))
	for id := range c.Exchanges {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, known := registry.Lookup(id); !known {
			return bad("exchanges."+id, "unknown exchange (known: %s)", strings.Join(registry.IDs(), ", "))
		}
		if err := c.Exchanges[id].validate("exchanges." + id); err != nil {
			return err
		}
	}
	if err := c.Jobs.validate(); err != nil {
		return err
	}
	if err := c.Quality.validate(); err != nil {
		return err
	}
	if err := c.Cache.validate(); err != nil {
		return err
	}
	return c.Store.validate()
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", redactErr(err))
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("scheme %q not supported (want %s)", u.Scheme, strings.Join(schemes, " or "))
	}
	return nil
}

// redactErr drops url.Error's copy of the URL, which may hold a password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (e ExchangeConfig) validate(key string) error {
	if e.BaseURL != "" {
		u, err := url.Parse(e.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return bad(key+".base_url", "want an http(s) URL, got %q", e.BaseURL)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return bad(key+".base_url", "plain http is allowed only for loopback addresses (exchange-replay); use https")
		}
	}
	if e.Enabled && len(e.Symbols) == 0 {
		return bad(key+".symbols", "an enabled exchange needs at least one symbol")
	}
	if len(e.Symbols) > MaxSymbols {
		return bad(key+".symbols", "at most %d symbols, got %d", MaxSymbols, len(e.Symbols))
	}
	if len(e.CriticalSymbols) > MaxSymbols {
		return bad(key+".critical_symbols", "at most %d symbols, got %d", MaxSymbols, len(e.CriticalSymbols))
	}
	if len(e.Timeframes) > MaxTimeframes {
		return bad(key+".timeframes", "at most %d timeframes, got %d", MaxTimeframes, len(e.Timeframes))
	}
	for i, s := range e.Symbols {
		if _, err := market.ParseSymbol(string(s)); err != nil {
			return bad(fmt.Sprintf("%s.symbols[%d]", key, i), "%v", err)
		}
	}
	for i, s := range e.CriticalSymbols {
		if !slices.Contains(e.Symbols, s) {
			return bad(fmt.Sprintf("%s.critical_symbols[%d]", key, i), "%q is not in symbols", s)
		}
	}
	for i, tf := range e.Timeframes {
		if _, err := market.ParseTimeframe(string(tf)); err != nil {
			return bad(fmt.Sprintf("%s.timeframes[%d]", key, i), "%v", err)
		}
	}
	if e.RateLimit.Limit < 0 || e.RateLimit.Limit > MaxRateLimit || math.IsNaN(e.RateLimit.Limit) {
		return bad(key+".rate_limit.limit", "must be between 0 and %d (0: the exchange's real limit)", MaxRateLimit)
	}
	if e.RateLimit.Window < 0 || e.RateLimit.Window.D() > MaxRateWindow {
		return bad(key+".rate_limit.window", "must be between 0 and %s", MaxRateWindow)
	}
	if e.RateLimit.Burst < 0 || e.RateLimit.Burst > MaxRateLimit {
		return bad(key+".rate_limit.burst", "must be between 0 and %d", MaxRateLimit)
	}
	if e.RateLimit.Kind != "" && !slices.Contains(WindowKinds, e.RateLimit.Kind) {
		return bad(key+".rate_limit.kind", "want %s, got %q", strings.Join(WindowKinds, ", "), e.RateLimit.Kind)
	}
	if r := e.RateLimit.Reserve; r != nil && !(*r >= 0 && *r <= 0.5) {
		return bad(key+".rate_limit.reserve", "must be between 0 and 0.5 (a share of the budget), got %v", *r)
	}
	if e.Timeout <= 0 || e.Timeout.D() > MaxTimeout {
		return bad(key+".timeout", "must be > 0 and at most %s", MaxTimeout)
	}
	if e.Depth < 0 || e.Depth > MaxDepth {
		return bad(key+".depth", "must be between 0 and %d", MaxDepth)
	}
	if e.Concurrency < 1 || e.Concurrency > MaxConcurrency {
		return bad(key+".concurrency", "must be between 1 and %d", MaxConcurrency)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (j JobsConfig) validate() error {
	for _, f := range []struct {
		name string
		d    Duration
	}{{"realtime", j.Realtime}, {"high", j.High}, {"medium", j.Medium}, {"low", j.Low}, {"daily", j.Daily}} {
		if f.d.D() < time.Second || f.d.D() > MaxInterval {
			return bad("jobs."+f.name, "must be between 1s and %s, got %s", Duration(MaxInterval), f.d)
		}
	}
	if j.Jitter < 0 || j.Jitter.D() > MaxJitter {
		return bad("jobs.jitter", "must be between 0 and %s", MaxJitter)
	}
	if j.FailureThreshold < 1 || j.FailureThreshold > MaxFailures {
		return bad("jobs.failure_threshold", "must be between 1 and %d", MaxFailures)
	}
	if j.GapFillWindow < 0 || j.GapFillWindow.D() > MaxGapFillWindow {
		return bad("jobs.gap_fill_window", "must be at most %s", Duration(MaxGapFillWindow))
	}
	if j.GapFill && j.GapFillWindow.D() < time.Hour {
		return bad("jobs.gap_fill_window", "must be at least 1h when gap_fill is on")
	}
	if j.CandleCatchup.D() < time.Minute {
		return bad("jobs.candle_catchup", "must be at least 1m, got %s", j.CandleCatchup)
	}
	return nil
}

func (q QualityConfig) validate() error {
	sum := 0.0
	for _, f := range q.Thresholds.fields() {
		if f.v < 0 || f.v > 1 {
			return bad("quality.thresholds."+f.name, "must be between 0 and 1, got %v", f.v)
		}
	}
	for _, f := range q.Weights.fields() {
		if f.v < 0 {
			return bad("quality.weights."+f.name, "must be >= 0, got %v", f.v)
		}
		sum += f.v
	}
	if math.Abs(sum-1) > 1e-6 {
		return bad("quality.weights", "must sum to 1, got %g", sum)
	}
	if q.FutureTolerance < 0 {
		return bad("quality.future_tolerance", "must be >= 0")
	}
	if q.MaxSpread <= 0 {
		return bad("quality.max_spread", "must be > 0 (a fraction of the mid price, e.g. 0.1)")
	}
	if q.OutlierMADs <= 0 {
		return bad("quality.outlier_mads", "must be > 0")
	}
	return nil
}

func (c CacheConfig) validate() error {
	for _, f := range []struct {
		name string
		d    Duration
	}{{"ticker", c.Ticker}, {"orderbook", c.OrderBook}, {"ohlcv", c.OHLCV}, {"ohlcv_daily", c.OHLCVDaily}} {
		if f.d <= 0 || f.d.D() > MaxCacheTTL {
			return bad("cache."+f.name, "TTL must be > 0 and at most %s", Duration(MaxCacheTTL))
		}
	}
	if c.MaxEntries < 1 || c.MaxEntries > MaxCacheEntries {
		return bad("cache.max_entries", "must be between 1 and %d", MaxCacheEntries)
	}
	return nil
}

func (s StoreConfig) validate() error {
	if s.BatchSize < 1 || s.BatchSize > MaxBatchSize {
		return bad("store.batch_size", "must be between 1 and %d, got %d", MaxBatchSize, s.BatchSize)
	}
	if s.FlushInterval <= 0 || s.FlushInterval.D() > MaxFlushInterval {
		return bad("store.flush_interval", "must be > 0 and at most %s", MaxFlushInterval)
	}
	if s.QueueSize < 1 || s.QueueSize > MaxQueueSize {
		return bad("store.queue_size", "must be between 1 and %d, got %d", MaxQueueSize, s.QueueSize)
	}
	if s.SpoolMaxBytes < 0 || s.SpoolMaxBytes > MaxSpoolBytes {
		return bad("store.spool_max_bytes", "must be between 0 (no spool) and %d (1 TiB), got %d", int64(MaxSpoolBytes), s.SpoolMaxBytes)
	}
	if s.DrainTimeout < Duration(time.Second) || s.DrainTimeout.D() > MaxDrainTimeout {
		return bad("store.drain_timeout", "must be between 1s and %s", MaxDrainTimeout)
	}
	if !slices.Contains([]string{"auto", "on", "off"}, s.TimescaleDB) {
		return bad("store.timescaledb", "want auto, on or off, got %q", s.TimescaleDB)
	}
	for _, m := range []struct {
		name string
		v    map[string]Duration
	}{{"retention", s.Retention}, {"compress_after", s.CompressAfter}} {
		for table, age := range m.v {
			if !slices.Contains(RetentionTables, table) {
				return bad("store."+m.name+"."+table, "unknown table (known: %s)", strings.Join(RetentionTables, ", "))
			}
			if age < 0 || age.D() > MaxAge {
				return bad("store."+m.name+"."+table, "must be between 0 (never) and %s", Duration(MaxAge))
			}
		}
	}
	return nil
}

// Enabled returns the enabled exchanges, sorted by id.
func (c *Config) Enabled() []string {
	var ids []string
	for id, e := range c.Exchanges {
		if e.Enabled {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
