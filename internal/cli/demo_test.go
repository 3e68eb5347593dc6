package cli

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/pgtest"
)

// demoCommands returns the mdingest commands README shows for `make demo`:
// those of the code block that passes --config deploy/demo.yaml.
func demoCommands(t *testing.T) [][]string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var out [][]string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if !strings.Contains(block[1], "--config deploy/demo.yaml") {
			continue
		}
		for _, line := range strings.Split(block[1], "\n") {
			line, _, _ = strings.Cut(line, "#")
			if args, ok := strings.CutPrefix(strings.TrimSpace(line), "bin/mdingest "); ok {
				out = append(out, strings.Fields(args))
			}
		}
	}
	return out
}

// TestDemoCommandsReachTheDemoDatabase (issue 14 §4): the commands README
// shows after `make demo` work without DATABASE_URL, as deploy/demo.yaml
// names the demo's database, the one the Makefile creates. They run here
// against a migrated stand-in for it.
func TestDemoCommandsReachTheDemoDatabase(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^DEMO_DATABASE_URL \?= (\S+)$`).FindSubmatch(makefile)
	require.NotNil(t, m, "Makefile sets DEMO_DATABASE_URL")
	demoURL := string(m[1])
	demo, err := os.ReadFile("../../deploy/demo.yaml")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^database_url: `+regexp.QuoteMeta(demoURL)+`$`, string(demo), "demo.yaml names the Makefile's demo database")
	require.Regexp(t, `(?m)^listen: 127\.0\.0\.1:9108$`, string(demo))

	// The stand-in: a fresh database, and an address no daemon answers on,
	// so that status reads the database's job runs.
	db := pgtest.NewDB(t)
	migrated(t, db)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	conf := strings.Replace(string(demo), "database_url: "+demoURL, "database_url: "+db, 1)
	conf = strings.Replace(conf, "listen: 127.0.0.1:9108", "listen: "+addr, 1)
	path := filepath.Join(t.TempDir(), "demo.yaml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))

	cmds := demoCommands(t)
	var names []string
	for _, args := range cmds {
		names = append(names, args[0])
	}
	require.Subset(t, names, []string{"status", "quality"}, "README's demo block")
	for _, args := range cmds {
		for i, a := range args {
			if a == "deploy/demo.yaml" {
				args[i] = path
			}
		}
		code, out, stderr := runCLI(t, nil, args...) // no DATABASE_URL
		require.Equal(t, ExitOK, code, "%v: %s", args, stderr)
		require.NotEmpty(t, out, "%v", args)
	}
}
