package warehousetest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// metricPrefix is what the daemon's registerer puts before every name
// (prometheus.WrapRegistererWithPrefix in internal/daemon).
const metricPrefix = "mdingest_"

// targetLabels are the labels Prometheus adds to every scraped series. A
// metric's own label of the same name is renamed exported_<name> on scrape
// (honor_labels is off in deploy/prometheus/prometheus.yml).
var targetLabels = []string{"job", "instance"}

// registeredMetrics reads the metric names and labels the code registers:
// every prometheus.New*(prometheus.*Opts{Name: ...}, []string{labels})
// in the non-test Go files of internal/, with the daemon's prefix. A
// histogram also exposes _bucket (with le), _sum and _count.
func registeredMetrics(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	root := filepath.Join(repoRoot(t), "internal")
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			fn, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !isPkg(fn.X, "prometheus") || !strings.HasPrefix(fn.Sel.Name, "New") {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			typ, ok := opts.Type.(*ast.SelectorExpr)
			if !ok || !isPkg(typ.X, "prometheus") || !strings.HasSuffix(typ.Sel.Name, "Opts") {
				return true
			}
			name, labels := "", []string{}
			for _, el := range opts.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				switch key := kv.Key.(*ast.Ident).Name; key {
				case "Name":
					name = stringLit(t, fset, kv.Value)
				case "Namespace", "Subsystem":
					t.Errorf("%s: %s is not handled here; name the metric in full", fset.Position(kv.Pos()), key)
				case "ConstLabels":
					if m, ok := kv.Value.(*ast.CompositeLit); ok {
						for _, l := range m.Elts {
							labels = append(labels, stringLit(t, fset, l.(*ast.KeyValueExpr).Key))
						}
					}
				}
			}
			if len(call.Args) > 1 {
				if list, ok := call.Args[1].(*ast.CompositeLit); ok {
					for _, l := range list.Elts {
						labels = append(labels, stringLit(t, fset, l))
					}
				}
			}
			require.NotEmpty(t, name, "%s: a metric without a literal name", fset.Position(call.Pos()))
			name = metricPrefix + name
			require.NotContains(t, out, name, "%s: registered twice", fset.Position(call.Pos()))
			out[name] = labels
			if strings.HasPrefix(typ.Sel.Name, "Histogram") {
				out[name+"_bucket"] = append(slices.Clone(labels), "le")
				out[name+"_sum"] = labels
				out[name+"_count"] = labels
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

func isPkg(x ast.Expr, name string) bool {
	id, ok := x.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(t *testing.T, fset *token.FileSet, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	require.True(t, ok && lit.Kind == token.STRING, "%s: not a string literal", fset.Position(e.Pos()))
	s, err := strconv.Unquote(lit.Value)
	require.NoError(t, err)
	return s
}

// scrapedLabels is a metric's labels as Prometheus stores them: its own
// (renamed when they clash with a target label) plus the target labels.
func scrapedLabels(own []string) []string {
	out := slices.Clone(targetLabels)
	for _, l := range own {
		if slices.Contains(targetLabels, l) {
			l = "exported_" + l
		}
		out = append(out, l)
	}
	return out
}

var (
	promMetricRe  = regexp.MustCompile(`\b` + metricPrefix + `[a-zA-Z0-9_]+`)
	promMatcherRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	promGroupRe   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	legendLabelRe = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// promLabels lists the label names an expression and its legend refer to.
func promLabels(expr, legend string) []string {
	var out []string
	for _, sel := range regexp.MustCompile(`\{[^}]*\}`).FindAllString(expr, -1) {
		for _, m := range promMatcherRe.FindAllStringSubmatch(sel, -1) {
			out = append(out, m[1])
		}
	}
	for _, m := range promGroupRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, m := range legendLabelRe.FindAllStringSubmatch(legend, -1) {
		out = append(out, m[1])
	}
	return out
}

// expandProm substitutes what Grafana does before a query reaches
// Prometheus: the interval variables, and template variables, a multi-value
// one as a regex alternation of its escaped values.
func expandProm(expr string, vars map[string]varValue) string {
	for _, iv := range []string{"$__rate_interval", "$__interval", "$__range"} {
		expr = strings.ReplaceAll(expr, iv, "1m")
	}
	return templateVarRe.ReplaceAllStringFunc(expr, func(m string) string {
		g := templateVarRe.FindStringSubmatch(m)
		name := g[1] + g[2] + g[4]
		v, ok := vars[name]
		if !ok {
			return m
		}
		q := make([]string, len(v.values))
		for i, s := range v.values {
			q[i] = regexp.QuoteMeta(s)
		}
		if v.multi {
			return "(" + strings.Join(q, "|") + ")"
		}
		return q[0]
	})
}

// TestDashboardPromQL checks every Prometheus panel of the dashboards
// without a server: each expression, as Grafana sends it, parses
// (promtool check rules, with each as a recording rule), names only
// metrics the code registers, and refers only to labels those metrics
// carry once scraped.
func TestDashboardPromQL(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is missing: apt-get install prometheus (Debian's package ships it)")
	metrics := registeredMetrics(t)

	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	seen := map[string]bool{}
	for name, d := range loadDashboards(t) {
		vars := map[string]varValue{}
		for _, v := range d.Templating.List {
			// Two values show the multi-value form; which ones does not
			// matter to the parser.
			vars[v.Name] = varValue{values: []string{"binance", "kraken"}, multi: v.Multi || v.IncludeAll}
		}
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					continue
				}
				where := fmt.Sprintf("%s %q %s", name, p.Title, tg.RefID)
				expr := expandProm(tg.Expr, vars)
				require.NotContains(t, expr, "$", "%s: left unexpanded: %s", where, expr)
				names := promMetricRe.FindAllString(expr, -1)
				require.NotEmpty(t, names, where)
				for _, m := range names {
					seen[m] = true
					own, ok := metrics[m]
					require.True(t, ok, "%s: %s is not a metric the code registers", where, m)
					for _, l := range promLabels(expr, tg.LegendFormat) {
						require.Contains(t, scrapedLabels(own), l, "%s: %s has no label %s", where, m, l)
					}
				}
				rules = append(rules, rule{Record: fmt.Sprintf("dashboard_%s_panel_%d_%s",
					strings.TrimSuffix(strings.ReplaceAll(name, "-", "_"), ".json"), p.ID, tg.RefID), Expr: expr})
			}
		}
	}
	require.NotEmpty(t, rules)
	// The ingestion panels the operator needs are there.
	for _, m := range []string{"mdingest_writer_rows_total", "mdingest_writer_queue_depth", "mdingest_writer_pending_rows",
		"mdingest_spool_bytes", "mdingest_ratelimit_window_used", "mdingest_ratelimit_window_limit"} {
		require.True(t, seen[m], "no panel shows %s", m)
	}

	sort.Slice(rules, func(i, j int) bool { return rules[i].Record < rules[j].Record })
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}}
	raw, err := yaml.Marshal(doc)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "dashboards.yml")
	require.NoError(t, os.WriteFile(file, raw, 0o644))
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s\n%s", out, raw)
}

// TestPromQLChecksCatch makes sure the checks above can fail: a misspelt
// metric, a label the metric lacks, a clashing target label and a bad
// expression are each caught.
func TestPromQLChecksCatch(t *testing.T) {
	metrics := registeredMetrics(t)
	require.Contains(t, metrics, "mdingest_writer_rows_total")
	require.Contains(t, metrics, "mdingest_exchange_request_duration_seconds_bucket")
	require.NotContains(t, metrics, "mdingest_cache_hit_total")
	require.Contains(t, metrics["mdingest_exchange_request_duration_seconds_bucket"], "le")

	require.ElementsMatch(t, []string{"result", "table", "exchange", "exchange"},
		promLabels(`sum by (table) (rate(mdingest_writer_rows_total{result=~"a|b"}[1m])) / on(exchange) x`, "{{exchange}}"))
	require.NotContains(t, scrapedLabels(metrics["mdingest_writer_rows_total"]), "exchange")
	own := metrics["mdingest_scheduler_job_last_success_timestamp_seconds"]
	require.Contains(t, own, "job")
	require.Contains(t, scrapedLabels(own), "exported_job", "the code's job label is renamed on scrape")

	require.Equal(t, `x{exchange=~"(binance|o\.kx)"}[1m]`,
		expandProm(`x{exchange=~"$exchange"}[$__rate_interval]`, map[string]varValue{"exchange": {values: []string{"binance", "o.kx"}, multi: true}}))

	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(file, []byte("groups:\n- name: x\n  rules:\n  - record: r\n    expr: sum by (a (x)\n"), 0o644))
	_, err = exec.Command(promtool, "check", "rules", file).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "promtool accepts a broken expression")
}
