package warehousetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/pgtest"
)

// No container engine runs here, so docker-compose.yml is checked
// statically: compose-go (the loader docker compose itself uses) parses and
// validates it, then the test checks what SPEC.md fixes and that every file
// it refers to exists.

// specEnv are the environment variables SPEC.md names for mdingest.
var specEnv = []string{"DATABASE_URL", "REDIS_URL", "MDINGEST_LISTEN", "MDINGEST_LOG_FORMAT"}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithName("mdingest"),
		// Only the variables the file defaults itself: no .env, no host env.
		cli.WithEnv([]string{}),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml does not load")
	return p
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t)
	names := p.ServiceNames()
	slices.Sort(names)
	require.Equal(t, []string{"grafana", "mdingest", "prometheus", "redis", "timescaledb"}, names)

	for name, svc := range p.Services {
		require.NotNil(t, svc.HealthCheck, "%s has no health check", name)
		require.False(t, svc.HealthCheck.Disable, name)
		require.NotEmpty(t, svc.HealthCheck.Test, name)
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "%s mounts %s, which does not exist", name, v.Source)
				require.True(t, strings.HasPrefix(v.Source, root+string(filepath.Separator)), "%s mounts %s from outside the repo", name, v.Source)
			case types.VolumeTypeVolume:
				require.Contains(t, p.Volumes, v.Source, "%s uses an undeclared volume", name)
			}
		}
	}

	t.Run("mdingest", func(t *testing.T) {
		svc := p.Services["mdingest"]
		require.NotNil(t, svc.Build)
		require.Equal(t, root, svc.Build.Context)
		require.Equal(t, "deploy/Dockerfile", filepath.ToSlash(svc.Build.Dockerfile))
		_, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile))
		require.NoError(t, err)

		for k := range svc.Environment {
			require.Contains(t, specEnv, k, "mdingest gets %s, a name SPEC.md does not define", k)
		}
		env := func(k string) string {
			v := svc.Environment[k]
			require.NotNil(t, v, "%s is not set", k)
			return *v
		}
		require.Equal(t, "0.0.0.0:9108", env("MDINGEST_LISTEN"), "listen on every interface inside the container")
		db, err := url.Parse(env("DATABASE_URL"))
		require.NoError(t, err)
		require.Equal(t, "timescaledb:5432", db.Host)
		require.Equal(t, "/mdingest", db.Path)
		pw, _ := db.User.Password()
		require.Equal(t, *p.Services["timescaledb"].Environment["POSTGRES_PASSWORD"], pw, "the database's password")
		rd, err := url.Parse(env("REDIS_URL"))
		require.NoError(t, err)
		require.Equal(t, "redis:6379", rd.Host)

		require.True(t, slices.ContainsFunc(svc.Ports, func(pc types.ServicePortConfig) bool {
			return pc.Target == 9108 && pc.Published == "9108"
		}), "port 9108 published: %+v", svc.Ports)
		require.Equal(t, types.ServiceConditionHealthy, svc.DependsOn["timescaledb"].Condition)
		require.Equal(t, types.ServiceConditionHealthy, svc.DependsOn["redis"].Condition)
		require.Contains(t, strings.Join(svc.HealthCheck.Test, " "), "9108/healthz")
		require.Equal(t, types.ShellCommand{"run"}, svc.Command)
	})

	// The spool outlives the container: a stable instance name and a spool
	// directory on a named volume, so that a recreated container replays
	// what the previous one spooled instead of orphaning it.
	t.Run("mdingest spool", func(t *testing.T) {
		svc := p.Services["mdingest"]
		df, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
		require.NoError(t, err)
		workdir := regexp.MustCompile(`(?m)^WORKDIR\s+(\S+)$`).FindAllStringSubmatch(string(df), -1)
		require.NotEmpty(t, workdir)
		cfgPath := mountSource(t, svc, workdir[len(workdir)-1][1]+"/mdingest.yaml") // the daemon's default config file
		raw, err := os.ReadFile(cfgPath)
		require.NoError(t, err)
		cfg := config.Default()
		require.NoError(t, cfg.LoadYAML(raw))
		require.NoError(t, cfg.Validate())
		require.NotEmpty(t, cfg.Instance, "a stable instance name, not the container's changing host name")
		require.NotEmpty(t, cfg.Store.SpoolDir)
		var volume *types.ServiceVolumeConfig
		for i, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && strings.HasPrefix(cfg.Store.SpoolDir+"/", strings.TrimSuffix(v.Target, "/")+"/") {
				volume = &svc.Volumes[i]
			}
		}
		require.NotNil(t, volume, "store.spool_dir %s is on a named volume", cfg.Store.SpoolDir)
		require.Contains(t, p.Volumes, volume.Source)
		// The image creates the directory for the unprivileged user, so
		// that the volume starts owned by it.
		require.Regexp(t, `mkdir -p `+regexp.QuoteMeta(cfg.Store.SpoolDir)+`\b.*chown -R mdingest`, string(df))
	})

	t.Run("timescaledb", func(t *testing.T) {
		svc := p.Services["timescaledb"]
		// What users run is what the tests run: the same TimescaleDB on the
		// same PostgreSQL major, read from the tests' own server.
		conn := connect(t, pgtest.TimescaleDB(t))
		var ext string
		var pgVersion int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT default_version, current_setting('server_version_num')::int
			FROM pg_available_extensions WHERE name = 'timescaledb'`).Scan(&ext, &pgVersion))
		require.Equal(t, fmt.Sprintf("timescale/timescaledb:%s-pg%d", ext, pgVersion/10000), svc.Image)
		require.Equal(t, "mdingest", *svc.Environment["POSTGRES_DB"])
		require.True(t, slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data"
		}), "data on a named volume")
	})

	t.Run("prometheus", func(t *testing.T) {
		svc := p.Services["prometheus"]
		cfg := mountSource(t, svc, "/etc/prometheus/prometheus.yml")
		require.Contains(t, svc.Command, "--config.file=/etc/prometheus/prometheus.yml")
		raw, err := os.ReadFile(cfg)
		require.NoError(t, err)
		var prom struct {
			ScrapeConfigs []struct {
				JobName       string `yaml:"job_name"`
				MetricsPath   string `yaml:"metrics_path"`
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &prom))
		var targets []string
		for _, sc := range prom.ScrapeConfigs {
			if sc.JobName != "mdingest" {
				continue
			}
			require.Contains(t, []string{"", "/metrics"}, sc.MetricsPath)
			for _, s := range sc.StaticConfigs {
				targets = append(targets, s.Targets...)
			}
		}
		require.Equal(t, []string{"mdingest:9108"}, targets)
	})

	t.Run("grafana", func(t *testing.T) {
		svc := p.Services["grafana"]
		prov := mountSource(t, svc, "/etc/grafana/provisioning")
		require.Equal(t, filepath.Join(root, "deploy", "grafana", "provisioning"), prov)
		var provider struct {
			Providers []struct {
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		raw, err := os.ReadFile(filepath.Join(prov, "dashboards", "mdingest.yml"))
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(raw, &provider))
		require.Len(t, provider.Providers, 1)
		dash := mountSource(t, svc, provider.Providers[0].Options.Path)
		require.Equal(t, filepath.Join(root, "deploy", "grafana", "dashboards"), dash, "the provider reads the mounted dashboards")
		require.NotNil(t, svc.Environment["GRAFANA_DB_PASSWORD"], "the data source file reads it")
		require.Equal(t, *p.Services["timescaledb"].Environment["GRAFANA_DB_PASSWORD"], *svc.Environment["GRAFANA_DB_PASSWORD"])
	})
}

// mountSource returns the host path bound at target in svc.
func mountSource(t *testing.T, svc types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("%s: nothing mounted at %s", svc.Name, target)
	return ""
}

var (
	copyRe    = regexp.MustCompile(`(?m)^COPY\s+(?:--chown=\S+\s+)?(.+)$`)
	goDirRe   = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)
	fromGoRe  = regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S*\s+AS\s+build$`)
	ignoreKep = regexp.MustCompile(`(?m)^!(\S+)$`)
)

// TestDockerfile checks the image build statically: the Go toolchain
// matches go.mod, it builds ./cmd/mdingest, every file copied from the
// context exists and is not excluded by the ignore file, and the entrypoint
// migrates before it runs.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	require.NoError(t, err)
	df := string(raw)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goVersion := goDirRe.FindStringSubmatch(string(mod))
	require.NotNil(t, goVersion)
	from := fromGoRe.FindStringSubmatch(df)
	require.NotNil(t, from, "a golang build stage")
	require.Equal(t, goVersion[1], from[1], "the build stage's Go is go.mod's")
	require.Contains(t, df, "./cmd/mdingest")
	require.Contains(t, df, "CGO_ENABLED=0")
	// The image reports its version as make build does: the same -X flags.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	for _, v := range []string{"version", "commit", "date"} {
		x := "-X $(BUILDINFO)." + v + "="
		require.Contains(t, string(mk), x, "Makefile stamps %s", v)
		require.Contains(t, df, "-X github.com/mdingest/mdingest/internal/buildinfo."+v+"=", "the image stamps %s", v)
	}

	ignore, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile.dockerignore"))
	require.NoError(t, err)
	kept := ignoreKep.FindAllStringSubmatch(string(ignore), -1)
	for _, m := range copyRe.FindAllStringSubmatch(df, -1) {
		if strings.HasPrefix(m[1], "--from=") {
			continue
		}
		parts := strings.Fields(m[1])
		for _, src := range parts[:len(parts)-1] {
			if src == "." {
				continue
			}
			_, err := os.Stat(filepath.Join(root, src))
			require.NoError(t, err, "COPY %s: not in the build context", src)
			require.True(t, slices.ContainsFunc(kept, func(k []string) bool {
				return k[1] == src || strings.HasSuffix(k[1], "/") && strings.HasPrefix(src, k[1])
			}), "COPY %s: excluded by deploy/Dockerfile.dockerignore", src)
		}
	}
	for _, dir := range []string{"go.mod", "go.sum", "cmd/", "internal/", "migrations/"} {
		require.True(t, slices.ContainsFunc(kept, func(k []string) bool { return k[1] == dir }), "the build needs %s", dir)
	}

	entry, err := os.ReadFile(filepath.Join(root, "deploy", "entrypoint.sh"))
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(root, "deploy", "entrypoint.sh"))
	require.NoError(t, err)
	require.NotZero(t, info.Mode()&0o111, "entrypoint.sh must be executable")
	migrate := strings.Index(string(entry), "mdingest migrate up")
	run := strings.Index(string(entry), `exec mdingest "$@"`)
	require.True(t, migrate >= 0 && run > migrate, "migrate up, then exec the daemon")
	require.Contains(t, df, `CMD ["run"]`)
}
