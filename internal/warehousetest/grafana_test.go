package warehousetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The dashboards' SQL goes through what Grafana does before PostgreSQL sees
// it: the frontend substitutes template variables (the SQL data sources'
// rules: a multi-value or include-all variable becomes a list of quoted
// literals, a single value is inserted with its quotes doubled), then the
// backend replaces $__interval, $__interval_ms and $__unixEpochFrom/To(),
// then the PostgreSQL macro engine expands $__timeFilter(x) and the others,
// with time_bucket() for $__timeGroup when the data source has timescaledb
// set. This file mirrors those rules (grafana/grafana
// pkg/tsdb/grafana-postgresql-datasource: macros.go and sqleng).

const (
	pgType   = "grafana-postgresql-datasource"
	promType = "prometheus"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID        string `json:"refId"`
	Datasource   *dsRef `json:"datasource"`
	RawSQL       string `json:"rawSql"`
	Format       string `json:"format"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

type panel struct {
	ID         int      `json:"id"`
	Title      string   `json:"title"`
	Type       string   `json:"type"`
	Datasource *dsRef   `json:"datasource"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // a collapsed row's panels
	Repeat     string   `json:"repeat"` // a variable: one copy per selected value
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

type templateVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// queryText is a variable's query: a string, or an object with rawSql or
// query (newer editors store the object).
func (v templateVar) queryText() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var obj struct {
		RawSQL string `json:"rawSql"`
		Query  string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &obj); err != nil {
		return "", fmt.Errorf("variable %s: query is neither text nor an object: %w", v.Name, err)
	}
	if obj.RawSQL != "" {
		return obj.RawSQL, nil
	}
	return obj.Query, nil
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]dashboard{}
	uids := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(raw, &d), f)
		require.NotEmpty(t, d.UID, f)
		require.NotContains(t, uids, d.UID, "%s and %s share a uid", f, uids[d.UID])
		uids[d.UID] = f
		out[filepath.Base(f)] = d
	}
	return out
}

// provisionedSources reads the data source provisioning files: uid -> type.
func provisionedSources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "provisioning", "datasources", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			APIVersion  int `yaml:"apiVersion"`
			Datasources []struct {
				Name     string         `yaml:"name"`
				UID      string         `yaml:"uid"`
				Type     string         `yaml:"type"`
				URL      string         `yaml:"url"`
				JSONData map[string]any `yaml:"jsonData"`
			} `yaml:"datasources"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc), f)
		require.Equal(t, 1, doc.APIVersion, f)
		for _, ds := range doc.Datasources {
			require.NotEmpty(t, ds.UID, ds.Name)
			require.NotEmpty(t, ds.URL, ds.Name)
			out[ds.UID] = ds.Type
			if ds.Type == pgType {
				require.Equal(t, "timescaledb:5432", ds.URL, "the compose service")
				require.Equal(t, "mdingest", ds.JSONData["database"])
				require.Equal(t, true, ds.JSONData["timescaledb"], "dashboards are checked with time_bucket expansion on TimescaleDB")
			}
		}
	}
	require.Contains(t, out, "mdingest-pg")
	return out
}

// TestDashboardsStatic checks what needs no database: every panel and
// variable uses a provisioned data source of the right type, panels have
// unique ids and a place, and Prometheus panels ask for mdingest's metrics.
func TestDashboardsStatic(t *testing.T) {
	sources := provisionedSources(t)
	for name, d := range loadDashboards(t) {
		t.Run(name, func(t *testing.T) {
			ids := map[int]bool{}
			sqlPanels := 0
			for _, p := range d.allPanels() {
				require.NotZero(t, p.ID, p.Title)
				require.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
				ids[p.ID] = true
				require.NotNil(t, p.GridPos, p.Title)
				if p.Type == "row" {
					continue
				}
				require.NotEmpty(t, p.Targets, p.Title)
				for _, tg := range p.Targets {
					ds := tg.Datasource
					if ds == nil {
						ds = p.Datasource
					}
					require.NotNil(t, ds, "%s: no data source", p.Title)
					require.Equal(t, sources[ds.UID], ds.Type, "%s: data source %s is not provisioned with type %s", p.Title, ds.UID, ds.Type)
					switch ds.Type {
					case pgType:
						sqlPanels++
						require.NotEmpty(t, tg.RawSQL, p.Title)
						require.Contains(t, []string{"", "time_series", "table"}, tg.Format, p.Title)
					case promType:
						require.Regexp(t, `\bmdingest_[a-z_]+`, tg.Expr, p.Title)
					default:
						t.Fatalf("%s: unexpected data source type %s", p.Title, ds.Type)
					}
				}
			}
			require.NotZero(t, sqlPanels)
			for _, v := range d.Templating.List {
				if v.Type == "query" {
					require.NotNil(t, v.Datasource, v.Name)
					require.Equal(t, sources[v.Datasource.UID], v.Datasource.Type, v.Name)
				}
			}
		})
	}
}

// grafanaEnv is the time range, interval and variable values of a query.
type grafanaEnv struct {
	from, to  time.Time
	interval  time.Duration
	timescale bool
	vars      map[string]varValue
}

type varValue struct {
	values []string
	multi  bool // multi-value or include-all: rendered as quoted literals
}

var (
	errUnknownMacro   = errors.New("unknown macro")
	errMacroArguments = errors.New("bad macro arguments")
	errVariableFormat = errors.New("unsupported variable format")
)

// templateVarRe is Grafana's variable syntax: $name, [[name]] or
// [[name:format]], ${name} or ${name:format}.
var templateVarRe = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// interpolateVars substitutes template variables as the SQL data sources'
// frontend does; names that are no variable (such as $__timeFilter) stay.
func (e grafanaEnv) interpolateVars(sql string) (string, error) {
	var firstErr error
	out := templateVarRe.ReplaceAllStringFunc(sql, func(m string) string {
		g := templateVarRe.FindStringSubmatch(m)
		name, format := g[1], ""
		if name == "" {
			name, format = g[2], g[3]
		}
		if name == "" {
			name, format = g[4], g[6]
		}
		v, ok := e.vars[name]
		if !ok {
			return m
		}
		switch format {
		case "":
			if !v.multi && len(v.values) == 1 {
				return strings.ReplaceAll(v.values[0], "'", "''")
			}
			fallthrough
		case "sqlstring":
			q := make([]string, len(v.values))
			for i, s := range v.values {
				q[i] = quoteSQL(s)
			}
			return strings.Join(q, ",")
		case "raw", "csv":
			return strings.Join(v.values, ",")
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s", errVariableFormat, m)
			}
			return m
		}
	})
	return out, firstErr
}

// formatInterval renders a duration as Grafana's gtime.FormatInterval does
// for the intervals used here (whole ms, s, m, h, d).
func formatInterval(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d >= time.Second && d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// parseInterval reads an interval argument as gtime.ParseInterval does for
// ms, s, m, h, d, w and y.
func parseInterval(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.Atoi(n)
			if err == nil && v > 0 {
				return time.Duration(v) * u.unit, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: interval %q", errMacroArguments, s)
}

var macroRe = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)

// expand turns a panel's raw SQL into what the data source sends.
func (e grafanaEnv) expand(raw string) (string, error) {
	sql, err := e.interpolateVars(raw)
	if err != nil {
		return "", err
	}
	// The backend's global substitutions; _ms first, it shares the prefix.
	sql = strings.ReplaceAll(sql, "$__interval_ms", strconv.FormatInt(e.interval.Milliseconds(), 10))
	sql = strings.ReplaceAll(sql, "$__interval", formatInterval(e.interval))
	sql = strings.ReplaceAll(sql, "$__unixEpochFrom()", strconv.FormatInt(e.from.Unix(), 10))
	sql = strings.ReplaceAll(sql, "$__unixEpochTo()", strconv.FormatInt(e.to.Unix(), 10))

	var firstErr error
	out := macroRe.ReplaceAllStringFunc(sql, func(m string) string {
		g := macroRe.FindStringSubmatch(m)
		name := g[1]
		// Before Grafana 5.3 $__timeGroup(...) followed by a comma meant the
		// aliased form; the engine still reads it so.
		if name == "__timeGroup" {
			if i := strings.Index(sql, m); i >= 0 && i+len(m) < len(sql) && sql[i+len(m)] == ',' {
				name = "__timeGroupAlias"
			}
		}
		args := strings.Split(g[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		res, err := e.macro(name, args)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return res
	})
	return out, firstErr
}

func (e grafanaEnv) macro(name string, args []string) (string, error) {
	from := e.from.UTC().Format(time.RFC3339Nano)
	to := e.to.UTC().Format(time.RFC3339Nano)
	col := func() (string, error) {
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("%w: %s needs a column", errMacroArguments, name)
		}
		return args[0], nil
	}
	group := func() (string, error) {
		if len(args) < 2 || len(args) > 3 {
			return "", fmt.Errorf("%w: %s needs a column, an interval and an optional fill", errMacroArguments, name)
		}
		iv, err := parseInterval(strings.Trim(args[1], "'"))
		if err != nil {
			return "", err
		}
		s := iv.Seconds()
		if e.timescale && strings.HasPrefix(name, "__time") {
			return fmt.Sprintf("time_bucket('%.3fs',%s)", s, args[0]), nil
		}
		if strings.HasPrefix(name, "__unixEpoch") {
			return fmt.Sprintf("floor((%s)/%v)*%v", args[0], s, s), nil
		}
		return fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], s, s), nil
	}
	switch name {
	case "__time":
		c, err := col()
		return c + ` AS "time"`, err
	case "__timeEpoch":
		c, err := col()
		return `extract(epoch from ` + c + `) as "time"`, err
	case "__timeFilter":
		c, err := col()
		return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", c, from, to), err
	case "__timeFrom":
		return "'" + from + "'", nil
	case "__timeTo":
		return "'" + to + "'", nil
	case "__timeGroup", "__unixEpochGroup":
		return group()
	case "__timeGroupAlias", "__unixEpochGroupAlias":
		name = strings.TrimSuffix(name, "Alias")
		g, err := group()
		return g + ` AS "time"`, err
	case "__unixEpochFilter":
		c, err := col()
		return fmt.Sprintf("%s >= %d AND %s <= %d", c, e.from.Unix(), c, e.to.Unix()), err
	case "__unixEpochNanoFilter":
		c, err := col()
		return fmt.Sprintf("%s >= %d AND %s <= %d", c, e.from.UnixNano(), c, e.to.UnixNano()), err
	case "__unixEpochNanoFrom":
		return strconv.FormatInt(e.from.UnixNano(), 10), nil
	case "__unixEpochNanoTo":
		return strconv.FormatInt(e.to.UnixNano(), 10), nil
	}
	return "macro_error()", fmt.Errorf("%w %q", errUnknownMacro, name)
}

func TestGrafanaExpansion(t *testing.T) {
	from := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	env := grafanaEnv{from: from, to: from.Add(time.Hour), interval: 5 * time.Minute, vars: map[string]varValue{
		"exchange": {values: []string{"binance", "o'kx"}, multi: true},
		"symbol":   {values: []string{"BTC/USDT"}},
		"who":      {values: []string{"it's"}},
	}}
	for _, tc := range []struct{ in, want, wantTS string }{
		{"WHERE $__timeFilter(ts)", "WHERE ts BETWEEN '2025-01-06T10:00:00Z' AND '2025-01-06T11:00:00Z'", ""},
		{"SELECT $__timeGroupAlias(ts, $__interval)", `SELECT floor(extract(epoch from ts)/300)*300 AS "time"`,
			`SELECT time_bucket('300.000s',ts) AS "time"`},
		{"GROUP BY $__timeGroup(ts, '1h', 0)", "GROUP BY floor(extract(epoch from ts)/3600)*3600",
			"GROUP BY time_bucket('3600.000s',ts)"},
		{"SELECT $__timeGroup(ts,5m), v", `SELECT floor(extract(epoch from ts)/300)*300 AS "time", v`, ""},
		{"x >= $__timeFrom() AND x < $__timeTo()", "x >= '2025-01-06T10:00:00Z' AND x < '2025-01-06T11:00:00Z'", ""},
		{"$__unixEpochFilter(e) $__unixEpochFrom() $__interval_ms", "e >= 1736157600 AND e <= 1736161200 1736157600 300000", ""},
		{"exchange IN ($exchange) AND symbol = '$symbol' AND w = '${who}'",
			"exchange IN ('binance','o''kx') AND symbol = 'BTC/USDT' AND w = 'it''s'", ""},
		{"IN (${symbol:sqlstring}) $unknown [[symbol]]", "IN ('BTC/USDT') $unknown BTC/USDT", ""},
	} {
		got, err := env.expand(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		if tc.wantTS != "" {
			ts := env
			ts.timescale = true
			got, err := ts.expand(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.wantTS, got)
		}
	}
	_, err := env.expand("$__timeFilterz(ts)")
	require.ErrorIs(t, err, errUnknownMacro)
	_, err = env.expand("$__timeGroup(ts)")
	require.ErrorIs(t, err, errMacroArguments)
	_, err = env.expand("${symbol:json}")
	require.ErrorIs(t, err, errVariableFormat)
}

// checkDashboards resolves every dashboard's variables by running their
// queries (in order, as Grafana does, so later ones see earlier values),
// then runs every SQL panel over the seeded range with a 5m interval and
// requires rows, and a "time" column in time-series panels. A repeated
// panel runs once per value of its variable, as each copy does.
func checkDashboards(t *testing.T, conn *pgx.Conn, d dataset, timescale bool) {
	for name, dash := range loadDashboards(t) {
		t.Run(name, func(t *testing.T) {
			env := dashboardEnv(t, conn, d, timescale, dash)
			for _, p := range dash.allPanels() {
				for _, penv := range env.repeats(p) {
					for _, tg := range p.Targets {
						if tg.RawSQL != "" {
							runPanel(t, conn, penv, p, tg)
						}
					}
				}
			}
		})
	}
	dashboards := loadDashboards(t)
	t.Run("stored symbols", func(t *testing.T) { checkStoredSymbols(t, conn, d, timescale, dashboards) })
	t.Run("candlestick", func(t *testing.T) { checkCandlestick(t, conn, d, timescale, dashboards["market-overview.json"]) })
	t.Run("quality by kind", func(t *testing.T) { checkQualityKinds(t, conn, d, timescale, dashboards["data-quality.json"]) })
}

// dashboardEnv is the seeded range with a 5m interval and the dashboard's
// variables resolved.
func dashboardEnv(t *testing.T, conn *pgx.Conn, d dataset, timescale bool, dash dashboard) grafanaEnv {
	t.Helper()
	env := grafanaEnv{from: d.base, to: d.base.Add(4 * time.Hour), interval: 5 * time.Minute,
		timescale: timescale, vars: map[string]varValue{}}
	for _, v := range dash.Templating.List {
		env.vars[v.Name] = resolveVariable(t, conn, env, v)
	}
	return env
}

// with returns a copy of e with the variable set to values.
func (e grafanaEnv) with(name string, multi bool, values ...string) grafanaEnv {
	vars := maps.Clone(e.vars)
	vars[name] = varValue{values: values, multi: multi}
	e.vars = vars
	return e
}

// repeats is the environment of each copy of p: one per value of its
// repeat variable (which keeps its multi-value quoting), or e alone.
func (e grafanaEnv) repeats(p panel) []grafanaEnv {
	if p.Repeat == "" {
		return []grafanaEnv{e}
	}
	v := e.vars[p.Repeat]
	var out []grafanaEnv
	for _, val := range v.values {
		out = append(out, e.with(p.Repeat, v.multi, val))
	}
	return out
}

// runPanel runs one SQL target and requires rows.
func runPanel(t *testing.T, conn *pgx.Conn, env grafanaEnv, p panel, tg target) result {
	t.Helper()
	sql, err := env.expand(tg.RawSQL)
	require.NoError(t, err, p.Title)
	require.NotContains(t, sql, "$", "%s: something was left unexpanded:\n%s", p.Title, sql)
	results := execAll(t, conn, sql)
	require.Len(t, results, 1, p.Title)
	r := results[0]
	require.NotEmpty(t, r.rows, "%s returned no rows:\n%s", p.Title, sql)
	if tg.Format == "" || tg.Format == "time_series" {
		require.Contains(t, r.columns, "time", "%s: a time series needs a time column", p.Title)
	}
	return r
}

// findPanel returns the panel titled title, or of type typ.
func findPanel(t *testing.T, dash dashboard, title string, typ ...string) panel {
	t.Helper()
	for _, p := range dash.allPanels() {
		if (title != "" && p.Title == title) || slices.Contains(typ, p.Type) {
			return p
		}
	}
	t.Fatalf("%s: no panel %q %v", dash.Title, title, typ)
	return panel{}
}

// checkStoredSymbols: the symbol variables and the freshness table list
// what is stored, not every market an exchange lists.
func checkStoredSymbols(t *testing.T, conn *pgx.Conn, d dataset, timescale bool, dashboards map[string]dashboard) {
	symbolVars := 0
	for name, dash := range dashboards {
		env := dashboardEnv(t, conn, d, timescale, dash)
		for _, v := range dash.Templating.List {
			if v.Name == "symbol" {
				symbolVars++
				require.Equal(t, []string{"BTC/USDT", "ETH/USDT"}, variableOptions(t, conn, env, v), "%s: stored symbols only", name)
			}
		}
	}
	require.NotZero(t, symbolVars)

	cov := dashboards["coverage.json"]
	p := findPanel(t, cov, "Data freshness")
	checkFreshness(t, d, runPanel(t, conn, dashboardEnv(t, conn, d, timescale, cov), p, p.Targets[0]))
}

// checkCandlestick runs the candlestick panel for binance BTC/USDT: 1m
// candles resampled to the 5m interval, and 1h candles, which a 5m
// interval must not split.
func checkCandlestick(t *testing.T, conn *pgx.Conn, d dataset, timescale bool, dash dashboard) {
	p := findPanel(t, dash, "", "candlestick")
	require.Equal(t, "exchange", p.Repeat, "one candlestick per exchange")
	env := dashboardEnv(t, conn, d, timescale, dash).with("exchange", true, "binance").with("symbol", false, "BTC/USDT")
	st := streams()[0]
	require.Equal(t, "binance BTC/USDT", st.exchange+" "+st.symbol)

	r := runPanel(t, conn, env.with("timeframe", false, "1m"), p, p.Targets[0])
	require.Len(t, r.rows, minutes/5, "180 1m candles in 5m buckets")
	for b, row := range r.rows {
		first, last := st.candle(5*b), st.candle(5*b+4)
		requireTime(t, d.base.Add(time.Duration(5*b)*time.Minute), get(t, row, "time"), b)
		requireNum(t, dec(first.open), get(t, row, "open"), b)
		requireNum(t, dec(last.high), get(t, row, "high"), b) // prices rise within a bucket
		requireNum(t, dec(first.low), get(t, row, "low"), b)
		requireNum(t, dec(last.close), get(t, row, "close"), b)
		vol := new(big.Rat)
		for i := 5 * b; i < 5*b+5; i++ {
			vol.Add(vol, st.candle(i).volume)
		}
		requireNum(t, dec(vol), get(t, row, "volume"), b)
	}

	r = runPanel(t, conn, env.with("timeframe", false, "1h"), p, p.Targets[0])
	require.Len(t, r.rows, 3, "one bucket per 1h candle")
	for h, row := range r.rows {
		requireTime(t, d.base.Add(time.Duration(h)*time.Hour), get(t, row, "time"), h)
		requireNum(t, dec(st.candle(60*h).open), get(t, row, "open"), h)
		requireNum(t, "999", get(t, row, "volume"), h)
	}
}

// checkQualityKinds: candle quality reports are stored as ohlcv:<timeframe>;
// choosing the ohlcv kind shows them.
func checkQualityKinds(t *testing.T, conn *pgx.Conn, d dataset, timescale bool, dash dashboard) {
	env := dashboardEnv(t, conn, d, timescale, dash).with("data_type", true, "ohlcv")
	for _, title := range []string{"Quality score", "Failed batches", "Rows rejected per batch", "Quality dimensions", "Latest failed batches"} {
		p := findPanel(t, dash, title)
		r := runPanel(t, conn, env, p, p.Targets[0])
		for _, row := range r.rows {
			if v, ok := row["data_type"]; ok {
				require.Equal(t, "ohlcv:1m", *v, title)
			}
			if v, ok := row["metric"]; ok {
				require.True(t, strings.HasSuffix(*v, " ohlcv:1m"), "%s: %s", title, *v)
			}
		}
	}
	p := findPanel(t, dash, "Rejected rows by check code")
	r := runPanel(t, conn, env, p, p.Targets[0])
	metrics := map[string]bool{}
	for _, row := range r.rows {
		metrics[*row["metric"]] = true
	}
	require.Equal(t, map[string]bool{"kraken: ohlc_relation": true, "kraken: invalid_value": true}, metrics,
		"the ohlcv kind's rejected rows, grouped by code, not by reason")
}

func resolveVariable(t *testing.T, conn *pgx.Conn, env grafanaEnv, v templateVar) varValue {
	t.Helper()
	val := varValue{values: variableOptions(t, conn, env, v), multi: v.Multi || v.IncludeAll}
	if isAll(v.Current.Value) {
		return val // All: every value (no custom all value is set)
	}
	if !val.multi {
		// A single-value variable starts on its saved value, or the first.
		if s, ok := v.Current.Value.(string); ok && s != "" {
			require.Contains(t, val.values, s, "variable %s: saved value not among its values", v.Name)
			val.values = []string{s}
		} else {
			val.values = val.values[:1]
		}
	}
	return val
}

// variableOptions is every value a variable offers.
func variableOptions(t *testing.T, conn *pgx.Conn, env grafanaEnv, v templateVar) []string {
	t.Helper()
	q, err := v.queryText()
	require.NoError(t, err)
	var values []string
	switch v.Type {
	case "query":
		sql, err := env.expand(q)
		require.NoError(t, err, v.Name)
		r := execAll(t, conn, sql)
		require.Len(t, r, 1)
		require.NotEmpty(t, r[0].rows, "variable %s has no values:\n%s", v.Name, sql)
		col := r[0].columns[0]
		if slices.Contains(r[0].columns, "__value") {
			col = "__value"
		}
		for _, row := range r[0].rows {
			values = append(values, get(t, row, col))
		}
	case "custom":
		for _, s := range strings.Split(q, ",") {
			values = append(values, strings.TrimSpace(s))
		}
	default:
		t.Fatalf("variable %s: type %s not handled by this test", v.Name, v.Type)
	}
	return values
}

func isAll(v any) bool {
	switch x := v.(type) {
	case string:
		return x == "$__all"
	case []any:
		return len(x) == 1 && x[0] == "$__all"
	}
	return false
}
