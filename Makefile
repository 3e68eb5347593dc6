# mdingest — see README.md. Every target runs from a fresh clone.
GO        ?= go
BIN       := bin
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mdingest?sslmode=disable
DEMO_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mdingest_demo?sslmode=disable
export GOFLAGS := -buildvcs=false

.PHONY: all build run test bench soak lint demo timescaledb parallel-copy fuzz clean

all: build

# What `mdingest --version` and the mdingest_build_info metric report:
# git's description of the checkout, its commit, and the build time (or
# SOURCE_DATE_EPOCH's, for reproducible builds). Each can be set instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
BUILDINFO := github.com/mdingest/mdingest/internal/buildinfo
LDFLAGS := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/mdingest ./cmd/mdingest
	$(GO) build -o $(BIN)/exchange-replay ./cmd/exchange-replay

# Creates the database if needed, migrates, then runs the daemon with the
# defaults (or mdingest.yaml when present).
run: build
	DATABASE_URL="$(DATABASE_URL)" $(BIN)/mdingest migrate up --create
	DATABASE_URL="$(DATABASE_URL)" $(BIN)/mdingest run

# The whole suite, with the race detector: real PostgreSQL, Redis and a
# private cluster with the real TimescaleDB extension (make timescaledb).
test: timescaledb lint
	$(GO) test -race -timeout 25m -count=1 ./...

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Benchmarks print ratios to a baseline measured in the same run.
bench: timescaledb parallel-copy
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/store/
	$(GO) test -run '^$$' -bench BenchmarkBackfillStored -benchtime 1x -timeout 30m ./internal/backfill/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/exchange/replaytest/
	$(GO) test -run '^$$' -bench BenchmarkDaemonLoad -benchtime 1x -timeout 30m ./internal/daemon/
	$(GO) test -run '^$$' -bench BenchmarkTradeCapture -benchtime 1x -timeout 30m ./internal/daemon/

# Soak: the daemon at the load benchmark's rate with faults on one exchange and a
# database outage in the middle (MDINGEST_SOAK_DURATION, default 10m).
soak: timescaledb
	$(GO) test -run '^$$' -bench BenchmarkSoak -benchtime 1x -timeout 40m ./internal/daemon/

# 60 s per parser fuzz target.
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 60s $$pkg || exit 1; \
	  done; \
	done

# Builds and installs TimescaleDB 2.28.3 from source (TIMESCALEDB_TARBALL, by
# default ../shared/vendor/); does nothing when it is already installed.
timescaledb:
	tools/timescaledb/install.sh

# TimescaleDB's own loader, the peer the import benchmark is measured
# against, built from its source (PARALLEL_COPY_TARBALL).
parallel-copy: $(BIN)/timescaledb-parallel-copy

$(BIN)/timescaledb-parallel-copy:
	tools/timescaledb/parallel-copy.sh $@

# exchange-replay plus the daemon, offline, into their own database.
demo: build
	DATABASE_URL="$(DEMO_DATABASE_URL)" $(BIN)/mdingest migrate up --create
	./deploy/demo.sh "$(DEMO_DATABASE_URL)"

clean:
	rm -rf $(BIN)
