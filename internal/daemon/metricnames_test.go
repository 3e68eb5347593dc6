package daemon_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/daemon/daemontest"
)

// notMetrics are mdingest_ names the documents use for other things.
var notMetrics = map[string]bool{
	"mdingest_demo": true, // the demo's database
}

// documentedMetrics returns every mdingest_ name in README.md, the
// Prometheus rules and the Grafana dashboards, with the files naming it.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	files := []string{"../../README.md"}
	for _, pattern := range []string{"../../deploy/prometheus/*.yml", "../../deploy/grafana/dashboards/*.json"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		require.NotEmpty(t, m, pattern)
		files = append(files, m...)
	}
	name := regexp.MustCompile(`\bmdingest_[a-z_]+[a-z]`)
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, n := range name.FindAllString(string(b), -1) {
			if !notMetrics[n] && !slices.Contains(out[n], f) {
				out[n] = append(out[n], f)
			}
		}
	}
	return out
}

// TestDocumentedMetricsExist (issue 14 §6): every metric name the README,
// the alert rules and the dashboards use is on a running daemon's /metrics.
func TestDocumentedMetricsExist(t *testing.T) {
	t.Parallel()
	rp := newReplay(t, nil)
	cfg := daemontest.Config(t, rp.URL, migratedDB(t), "binance")
	addr := startDaemon(t, cfg).Config.Listen

	docs := documentedMetrics(t)
	require.NotEmpty(t, docs)
	// Counters by table and result appear with the first write.
	if !assert.Eventually(t, func() bool { return len(notExposed(t, addr, docs)) == 0 }, waitFor, pollGap) {
		t.Fatalf("documented but not on /metrics: %v", notExposed(t, addr, docs))
	}
}

// notExposed lists the documented names missing from /metrics.
func notExposed(t *testing.T, addr string, docs map[string][]string) []string {
	t.Helper()
	have := exposed(t, addr)
	var out []string
	for name, files := range docs {
		if !have[name] {
			out = append(out, name+" (in "+strings.Join(files, ", ")+")")
		}
	}
	slices.Sort(out)
	return out
}

// exposed returns the metric names of a daemon's /metrics, with the series
// names of histograms and summaries.
func exposed(t *testing.T, addr string) map[string]bool {
	t.Helper()
	_, body := get(t, addr, "/metrics")
	// Every family has its "# TYPE name type" line.
	have := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		have[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				have[f[2]+suffix] = true
			}
		}
	}
	return have
}
