package warehousetest

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// systemPython is Debian's interpreter, the one python3-pandas,
// python3-psycopg2 and python3-matplotlib install into (a pyenv python3
// earlier on PATH would not see them).
const systemPython = "/usr/bin/python3"

// libpqURL drops the pgx-only parameters pgtest adds; libpq rejects
// parameters it does not know.
func libpqURL(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Del("default_query_exec_mode")
	u.RawQuery = q.Encode()
	return u.String()
}

// checkNotebook runs examples/notebook.py against the seeded database and
// requires a PNG and the rows the dataset implies, then checks the figure
// it draws for the defects a new user saw: legends over the data or off
// the figure, an offset or scientific axis, lines too short to see.
// A missing interpreter or module fails the test: CI must install them.
func checkNotebook(t *testing.T, dbURL string) {
	_, err := os.Stat(systemPython)
	require.NoError(t, err, "%s is missing: apt-get install python3", systemPython)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	check := exec.CommandContext(ctx, systemPython, "-c", "import pandas, psycopg2, matplotlib")
	out, err := check.CombinedOutput()
	require.NoError(t, err, "Python modules missing (apt-get install python3-pandas python3-psycopg2 python3-matplotlib):\n%s", out)

	dir := t.TempDir()
	env := append(os.Environ(), "DATABASE_URL="+libpqURL(t, dbURL), "MPLCONFIGDIR="+dir)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, systemPython, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "%v failed:\n%s%s", args, stdout.String(), stderr.String())
		return stdout.String()
	}
	notebook := filepath.Join(repoRoot(t), "examples", "notebook.py")

	png := filepath.Join(dir, "chart.png")
	stdout := run(notebook, "--symbol", "BTC/USDT", "--hours", "12", "--out", png)
	// 180 minutes of 1m candles: 5-minute buckets keep it under 120 points;
	// 36 buckets x 2 exchanges. The quality reports (every 15 minutes, 2
	// exchanges x 2 data types, ohlcv:1m among them) each fill a bucket.
	require.Contains(t, stdout, "72 candle rows, 48 quality rows, bucket 5 minutes")
	data, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Greater(t, len(data), 1000)
	require.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "not a PNG")

	// The figure as main() draws it, by default and with one bucket for the
	// whole range (a lone point per line, as a short demo gives).
	for _, bucket := range []string{"auto", "4 hours"} {
		out := run("-c", figureCheck, notebook, "--symbol", "BTC/USDT", "--hours", "12", "--bucket", bucket,
			"--out", filepath.Join(dir, "check.png"))
		require.Contains(t, out, "figure ok", bucket)
	}
}

// figureCheck runs notebook.py's main() with the given arguments, keeps
// the figure it closes, and fails on what makes it unreadable.
const figureCheck = `
import importlib.util, sys
import matplotlib.pyplot as plt
import numpy as np

path, args = sys.argv[1], sys.argv[2:]
spec = importlib.util.spec_from_file_location("notebook", path)
nb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nb)
figs = []
close = plt.close
plt.close = lambda fig=None: figs.append(fig)
assert nb.main(args) == 0
plt.close = close
fig = figs[0]
fig.canvas.draw()
r = fig.canvas.get_renderer()
fb = fig.bbox
quality = None
for ax in fig.axes:
    name = ax.get_title(loc="left") or ax.get_title()
    if "quality" in name:
        quality = ax
    off = ax.yaxis.get_offset_text().get_text()
    assert off == "", f"{name}: y axis in offset notation ({off!r})"
    labels = [l.get_text() for l in ax.get_yticklabels() if l.get_text()]
    assert len(labels) == len(set(labels)), f"{name}: repeated tick labels {labels}"
    assert len(labels) <= 8, f"{name}: crowded ticks {labels}"
    leg = ax.get_legend()
    if leg is not None:
        lb, ab = leg.get_window_extent(r), ax.get_window_extent(r)
        assert not lb.overlaps(ab), f"{name}: the legend covers the data"
        assert fb.x0 - 1 <= lb.x0 and lb.x1 <= fb.x1 + 1 and fb.y0 - 1 <= lb.y0 and lb.y1 <= fb.y1 + 1, \
            f"{name}: the legend runs off the figure ({lb} outside {fb})"
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        if np.isfinite(y).sum() < 2:
            assert line.get_marker() not in (None, "None", "", " "), f"{name}: {line.get_label()} has one point and no marker"
assert quality is not None, "no quality panel"
points = sum(np.isfinite(np.asarray(l.get_ydata(), dtype=float)).sum() for l in quality.get_lines())
assert points > 0, "the quality panel is empty"
print("figure ok")
`

func TestNotebookNeedsDatabaseURL(t *testing.T) {
	cmd := exec.Command(systemPython, filepath.Join(repoRoot(t), "examples", "notebook.py"))
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "MPLCONFIGDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(out), "DATABASE_URL")
}
