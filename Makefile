# ucri: two commands on a fresh Debian machine, `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
NODE ?= node
UCRI_FLAGS ?=

.PHONY: all deps generate build run test test-unit lint bench clean

all: build

deps:
	@hack/deps.sh

generate: deps
	@npx buf generate

build: generate
	@npx tsc -p tsconfig.json

## run: install, build and start ucri in the foreground on /run/ucri/ucri.sock
run: build
	$(NODE) dist/cmd/ucri/main.js serve --install-default-network $(UCRI_FLAGS)

## test: install, build, lint, check the layering, and run every test with node's test runner
test: build lint
	$(NODE) --test --test-concurrency=1 dist/test/

## test-unit: only the fast tests that need no root
test-unit: build
	$(NODE) --test dist/test/unit/

lint: build
	@npx biome check .
	@$(NODE) dist/hack/check-layering.js

bench: build
	$(NODE) dist/hack/bench/main.js

clean:
	rm -rf dist pkg/cri/gen
