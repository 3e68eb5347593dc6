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
// requires a non-empty PNG. A missing interpreter or module fails the test:
// CI must install them.
func checkNotebook(t *testing.T, dbURL string) {
	_, err := os.Stat(systemPython)
	require.NoError(t, err, "%s is missing: apt-get install python3", systemPython)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	check := exec.CommandContext(ctx, systemPython, "-c", "import pandas, psycopg2, matplotlib")
	out, err := check.CombinedOutput()
	require.NoError(t, err, "Python modules missing (apt-get install python3-pandas python3-psycopg2 python3-matplotlib):\n%s", out)

	dir := t.TempDir()
	png := filepath.Join(dir, "chart.png")
	cmd := exec.CommandContext(ctx, systemPython, filepath.Join(repoRoot(t), "examples", "notebook.py"),
		"--symbol", "BTC/USDT", "--hours", "12", "--out", png)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+libpqURL(t, dbURL), "MPLCONFIGDIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "notebook.py failed:\n%s", stderr.String())
	require.Contains(t, stdout.String(), "6 candle rows", "3 hours x 2 exchanges of hourly candles")
	require.Contains(t, stdout.String(), "quality rows")

	data, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Greater(t, len(data), 1000)
	require.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "not a PNG")
}

func TestNotebookNeedsDatabaseURL(t *testing.T) {
	cmd := exec.Command(systemPython, filepath.Join(repoRoot(t), "examples", "notebook.py"))
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "MPLCONFIGDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(out), "DATABASE_URL")
}
