package warehousetest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAlertRules checks the shipped Prometheus configuration and alert rules
// with Prometheus's own tool: the config loads with its rule file, and each
// alert fires (and stays quiet) as alerts_test.yml expects.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is missing: apt-get install prometheus (Debian's package ships it)")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}

	// The compose stack mounts the rules where prometheus.yml looks for them.
	p := loadCompose(t)
	src := mountSource(t, p.Services["prometheus"], "/etc/prometheus/alerts.yml")
	require.Equal(t, filepath.Join(dir, "alerts.yml"), src)
}
