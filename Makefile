# ecr-baseline — see README.md. `make demo` and `make test` are the two
# commands; every other target is a step they depend on.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
VENV      := .venv
PY        := $(VENV)/bin/python
FUNCTIONS := enforcer
BUILD     := build
# jsii warns that Node 20 is past support; synth works, so keep the logs clean.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

# Modules nested in this one, which ./... does not reach: infra/patterntest
# needs a replace directive the main module must not have (see its doc.go).
NESTED    := infra/patterntest

# Test prerequisites; infra/infra.mk adds its own (npm packages).
TEST_DEPS := $(VENV)/.installed
-include infra/infra.mk

.PHONY: help
help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

.PHONY: tools
tools: $(TEST_DEPS) ## install test tools (moto server, cfn-lint, aws-cdk CLI) into git-ignored folders

.PHONY: build
build: $(FUNCTIONS:%=$(BUILD)/%/bootstrap) ## build each Lambda as build/<fn>/bootstrap (linux/arm64)

# infra/ecrbaseline/bundle.go builds the function the same way at synth:
# keep the flags alike.
$(BUILD)/%/bootstrap: FORCE
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc -ldflags "-s -w" -o $@ ./functions/$*

.PHONY: FORCE
FORCE:

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	for m in $(NESTED); do (cd $$m && $(GO) vet ./...); done

.PHONY: test
test: tools lint build ## run every test: unit, moto integration, Lambda Runtime API, CDK
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(GO) test -race -count=1 ./...
	for m in $(NESTED); do (cd $$m && $(GO) test -race -count=1 ./...); done

# The packages whose tests run against moto server or race goroutines:
# those a loaded machine or an unlucky schedule would make flaky, if any
# depended on either.
FLAKY_PKGS := ./cmd/demo ./functions/enforcer ./internal/esm ./internal/faultmatrix ./internal/faultproxy ./internal/scenarios \
	./pkg/app ./pkg/backfill ./pkg/baseline ./pkg/cli ./pkg/enforcer ./pkg/handler

.PHONY: test-flaky
test-flaky: tools ## run the moto integration and concurrency tests 3 times (-race -count=3): check before committing
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(GO) test -race -count=3 $(FLAKY_PKGS)

.PHONY: demo
demo: tools ## start moto, enforce events/ through the bootstrap binary, print the policy
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(GO) run ./cmd/demo

.PHONY: bench
bench: tools ## backfill fleets through a rate-limited, 20 ms proxy in front of moto with the defaults; prints each ratio to its bound
	MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(GO) test -run '^$$' -bench BenchmarkBackfill -benchtime 1x -timeout 30m ./pkg/backfill/

# scripts/fuzz.sh runs each target alone (go test -fuzz takes one per
# package run); FUZZFLAGS passes more, e.g. FUZZFLAGS=-parallel=1. A failing
# input is written to the package's testdata/fuzz/ and then runs in make test.
FUZZTIME  ?= 60s
FUZZFLAGS ?=
.PHONY: fuzz
fuzz: ## run every fuzz target in the repository for FUZZTIME each (default 60s); make test runs their seeds
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZFLAGS='$(FUZZFLAGS)' scripts/fuzz.sh

.PHONY: sweep
sweep: ## queue a sweep on the deployed function (DRY_RUN=false to write, PREFIX=team-a/ to limit, STACK= or FUNCTION= to pick it)
	scripts/sweep.sh

.PHONY: tidy
tidy: ## go mod tidy, in this module and the nested ones
	$(GO) mod tidy
	for m in $(NESTED); do (cd $$m && $(GO) mod tidy); done

.PHONY: clean
clean: ## remove build output
	rm -rf $(BUILD) cdk.out

