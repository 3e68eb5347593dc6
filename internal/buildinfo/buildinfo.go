// Package buildinfo says which build of mdingest is running: the version,
// commit and build date the Makefile stamps in with -ldflags -X, else what
// the Go toolchain recorded, for `mdingest --version` and the
// mdingest_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time: go build -ldflags "-X <pkg>.version=v1.2.3 -X <pkg>.commit=abc -X <pkg>.date=2026-01-02T03:04:05Z".
// They are variables only because -X can set nothing else.
var (
	version string
	commit  string
	date    string
)

// Unknown stands for a field neither the linker nor the toolchain filled.
const Unknown = "unknown"

// Info is one build's identity.
type Info struct {
	Version   string // e.g. v1.2.3, or a git describe; "dev" for an unstamped build
	Revision  string // the commit
	Built     string // RFC 3339
	GoVersion string
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers the linker's values, then the toolchain's (a `go install
// module@version` has the module version; a build inside a git checkout
// with -buildvcs has the revision and commit time).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	i := Info{Version: version, Revision: commit, Built: date, GoVersion: runtime.Version()}
	if bi != nil {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Revision == "":
				i.Revision = s.Value
			case s.Key == "vcs.time" && i.Built == "":
				i.Built = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Revision == "" {
		i.Revision = Unknown
	}
	if i.Built == "" {
		i.Built = Unknown
	}
	return i
}

// String is the --version line.
func (i Info) String() string {
	return fmt.Sprintf("mdingest %s (commit %s, built %s, %s)", i.Version, i.Revision, i.Built, i.GoVersion)
}

// Register adds the build_info gauge (1, with version, revision,
// goversion and built as labels) to reg, the Prometheus convention for
// telling which build a target runs.
func Register(reg prometheus.Registerer) error {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "build_info",
		Help: "Always 1; the labels say which build of mdingest is running.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion, "built": i.Built,
		},
	})
	g.Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("registering build_info: %w", err)
	}
	return nil
}
