# Entry points for building and testing Tributary. CI runs .ci/run, which
# installs what the tests need and then runs `make test`.

GO  ?= go
BIN := bin/tributary

.PHONY: all build web generate run test fmt bench bench-storage deploy-check proof fuzz

all: build

# web builds the front-end bundles that the binary embeds (web/ ->
# internal/web/static/dist, git-ignored) with the pinned packages of
# web/package-lock.json; npm ci runs only when node_modules is older than
# the lock file. The binary builds without them (the pages then render
# unstyled and the server logs a warning).
WEB_DEPS := web/node_modules/.package-lock.json

web: $(WEB_DEPS)
	cd web && npm run build

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

# generate rewrites the committed generated code of the pages (templ).
generate:
	$(GO) tool templ generate -path internal/web

build: web
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/tributary

run: build
	./$(BIN) serve

# PostgreSQL tests find or start their own server (see internal/pgtest);
# set TRIBUTARY_TEST_DATABASE_URL to use an existing one.
test: web
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	$(GO) fmt ./...

# deploy-check checks the Helm chart offline: for each values file in
# deploy/helm/tributary/ci it runs `helm lint --strict` and renders the chart
# with `helm template`, then validates every rendered object against the
# Kubernetes API types and the schema client-go embeds (deploy/tools/
# manifestcheck), and makes sure a rendering without the Secret fails. helm
# runs as a Go tool of deploy/tools, a module of its own, so the product's
# go.mod carries no helm or Kubernetes dependency. The go build cache keeps
# the helm binary (`go tool -n` builds it once and prints its path).
deploy-check:
	@set -e; cd deploy/tools; \
	out="$$(mktemp -d)"; trap 'rm -rf "$$out"' EXIT; \
	$(GO) mod tidy -diff; \
	$(GO) test ./...; \
	helm="$$($(GO) tool -n helm)"; \
	for values in ../helm/tributary/ci/*.yaml; do \
	  "$$helm" lint --strict --quiet ../helm/tributary -f "$$values"; \
	  "$$helm" template tributary ../helm/tributary -f "$$values" >"$$out/$$(basename "$$values")"; \
	done; \
	$(GO) run ./manifestcheck "$$out"/*.yaml; \
	if "$$helm" template tributary ../helm/tributary >/dev/null 2>&1; then \
	  echo "deploy-check: the chart rendered without secrets.existingSecret" >&2; exit 1; \
	fi

# bench is the webhook ingest benchmark (not part of `make test`): it starts
# its own throwaway PostgreSQL, builds the Telegraf peer from bench/telegraf,
# runs Tributary on PostgreSQL and SQLite next to Telegraf, raw COPY and
# plain net/http, then the polling benchmark (10,000 polling pipelines on
# SQLite and PostgreSQL) and the delivery benchmark (records a second per
# sink at 1, 10 and 100 records a batch, and what each sink adds to a
# commit), and writes docs/benchmarks.md. About 15 minutes; BENCH_INGEST=0,
# BENCH_POLLING=0 or BENCH_DELIVERY=0 leaves a part out.
bench:
	bash bench/run.sh

# bench-storage is the time-series storage benchmark (20 million records,
# about 10 GB and 20 minutes): BENCH_DATABASE_URL must name an empty,
# dedicated PostgreSQL database. Not part of `make test`.
bench-storage:
	$(GO) run ./bench/storage -database-url "$(BENCH_DATABASE_URL)"

# FUZZ lists the fuzz targets as package:Target. CI runs their committed
# seed corpora (testdata/fuzz) as ordinary tests; `make fuzz` fuzzes each
# for FUZZTIME.
FUZZTIME ?= 30s
FUZZ := \
	./internal/ingest:FuzzDecodeBody \
	./internal/signature:FuzzVerifyParts \
	./internal/mapping:FuzzCompileApply \
	./internal/schema:FuzzCompileValidate \
	./internal/source:FuzzDecodeCSV \
	./internal/source/upload:FuzzReaders \
	./internal/netguard:FuzzCheckURL \
	./internal/engine:FuzzEncode \
	./internal/jsonvalue:FuzzParse

fuzz:
	@set -e; for t in $(FUZZ); do \
	  pkg="$${t%%:*}"; name="$${t##*:}"; \
	  echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

# proof runs the suite that tries to break Tributary's promises (crashes,
# dependency faults, abuse, isolation, SSRF, fuzzing, secrets) with the
# long settings, and writes docs/proof.md from the results. Not part of
# `make test`, which runs the fast parts. About 20 minutes.
proof: web
	$(GO) run ./bench/proof -out docs/proof.md -fuzztime $(FUZZTIME)
