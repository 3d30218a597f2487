# Herald — make targets. A newcomer needs two: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/herald
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s
BENCH_N ?= 100000

.PHONY: all setup setup-run tools build run test test-sdk test-faults test-short race vet fmt lint fuzz bench bench-e2e bench-reads clean

# The chart's checkers (go test ./deploy/ runs them), pinned and installed
# with go install into .tools/<name>-<version>/ on first use: a fresh clone
# or CI builds them once (helm takes a few minutes), later runs reuse them.
HELM_VERSION := v3.22.0
KUBECONFORM_VERSION := v0.8.0
TOOLS := $(CURDIR)/.tools
HELM := $(TOOLS)/helm-$(HELM_VERSION)/helm
KUBECONFORM := $(TOOLS)/kubeconform-$(KUBECONFORM_VERSION)/kubeconform

all: build

## setup: install what is missing (redis-server and chromium from Debian's packages)
setup:
	@deploy/local/setup.sh

setup-run:
	@deploy/local/setup.sh run

## tools: helm and kubeconform at the pinned versions (promtool comes from setup)
tools: $(HELM) $(KUBECONFORM)

$(HELM):
	GOBIN=$(dir $@) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(KUBECONFORM):
	GOBIN=$(dir $@) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

## build: the herald binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/herald

## run: install what is missing, start redis-server, a loopback receiver and `herald serve`
run: setup-run build
	@deploy/local/run.sh

## test: the whole suite with the race detector, against real redis-server and NATS;
## the Helm chart and alert rules with helm, kubeconform and promtool
test: setup vet tools
	HERALD_HELM=$(HELM) HERALD_KUBECONFORM=$(KUBECONFORM) $(GO) test -race -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory test-sdk

## test-sdk: the TypeScript SDK (sdk/typescript) against a real herald serve;
## without Node.js 18+ skipped locally, a failure under CI
test-sdk:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 || \
	    [ "$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 18 ]; then \
	  if [ -n "$$CI" ]; then echo "test-sdk: Node.js 18+ and npm are required in CI"; exit 1; fi; \
	  echo "test-sdk: Node.js 18+ is not installed: skipping the TypeScript SDK's tests"; exit 0; \
	fi; \
	set -ex; cd sdk/typescript && npm ci --no-audit --no-fund && npm run build && npm test

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
