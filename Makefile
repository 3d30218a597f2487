# Herald — make targets. A newcomer needs two: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/herald
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s
BENCH_N ?= 100000

.PHONY: all setup setup-run build run test test-faults test-short race vet fmt lint fuzz bench bench-e2e bench-reads clean

all: build

## setup: install what is missing (redis-server and chromium from Debian's packages)
setup:
	@deploy/local/setup.sh

setup-run:
	@deploy/local/setup.sh run

## build: the herald binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/herald

## run: install what is missing, start redis-server, a loopback receiver and `herald serve`
run: setup-run build
	@deploy/local/run.sh

## test: the whole suite with the race detector, against real redis-server and NATS
test: setup vet
	$(GO) test -race -count=1 -timeout 15m ./...

## test-faults: the fault suite with real processes (herald producer and workers,
## redis-server, `herald dev nats`): kill -9, restarts, a failing receiver; a few minutes
test-faults: setup
	HERALD_FAULT_SUITE=1 $(GO) test -count=1 -v -timeout 20m ./internal/faults/

test-short:
	$(GO) test -count=1 ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet

## fuzz: every fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## bench: benchmarks (results go into BENCHMARKS.md by hand, with the machine)
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...
	$(GO) run ./internal/benchrun -n $(BENCH_N)
	$(GO) run ./internal/readbench

## bench-e2e: only the end-to-end pipeline benchmark (BENCH_N messages per run)
bench-e2e: setup
	$(GO) run ./internal/benchrun -n $(BENCH_N)

## bench-reads: the producer's peak RSS under the largest reads of a read-only key
bench-reads: setup
	$(GO) run ./internal/readbench

clean:
	rm -rf bin .run
