package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestResolvePrefersTheLinkersValues(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "fromvcs"}, {Key: "vcs.time", Value: "2020-01-01T00:00:00Z"},
	}}
	got := resolve("v1.2.3", "abc1234", "2026-01-02T03:04:05Z", bi)
	require.Equal(t, Info{Version: "v1.2.3", Revision: "abc1234", Built: "2026-01-02T03:04:05Z", GoVersion: runtime.Version()}, got)

	got = resolve("", "", "", bi)
	require.Equal(t, Info{Version: "v0.9.0", Revision: "fromvcs", Built: "2020-01-01T00:00:00Z", GoVersion: runtime.Version()}, got,
		"the toolchain's record when nothing was stamped")

	got = resolve("", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	require.Equal(t, Info{Version: "dev", Revision: Unknown, Built: Unknown, GoVersion: runtime.Version()}, got)
	require.Equal(t, "mdingest dev (commit unknown, built unknown, "+runtime.Version()+")", got.String())
}

func TestRegisterExportsBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	require.NoError(t, Register(prometheus.WrapRegistererWithPrefix("mdingest_", reg)))
	i := Get()
	want := `# HELP mdingest_build_info Always 1; the labels say which build of mdingest is running.
# TYPE mdingest_build_info gauge
mdingest_build_info{built="` + i.Built + `",goversion="` + i.GoVersion + `",revision="` + i.Revision + `",version="` + i.Version + `"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "mdingest_build_info"))
	require.Error(t, Register(prometheus.WrapRegistererWithPrefix("mdingest_", reg)), "registered once")
}
