# Entry points for building and testing Tributary. CI runs .ci/run, which
# installs what the tests need and then runs `make test`.

GO  ?= go
BIN := bin/tributary

.PHONY: all build web run test fmt bench bench-storage

all: build

# web builds the front-end assets that the binary embeds. Nothing to do yet:
# once the front-end exists, put its build here (e.g. cd web && npm ci &&
# npm run build); build already depends on it.
web:

build: web
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/tributary

run: build
	./$(BIN) serve

# PostgreSQL tests find or start their own server (see internal/pgtest);
# set TRIBUTARY_TEST_DATABASE_URL to use an existing one.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	$(GO) fmt ./...

# bench is the webhook ingest benchmark (not part of `make test`): it starts
# its own throwaway PostgreSQL, builds the Telegraf peer from bench/telegraf,
# runs Tributary on PostgreSQL and SQLite next to Telegraf, raw COPY and
# plain net/http, and writes docs/benchmarks.md. About 5 minutes.
bench:
	bash bench/run.sh

# bench-storage is the time-series storage benchmark (20 million records,
# about 10 GB and 20 minutes): BENCH_DATABASE_URL must name an empty,
# dedicated PostgreSQL database. Not part of `make test`.
bench-storage:
	$(GO) run ./bench/storage -database-url "$(BENCH_DATABASE_URL)"
