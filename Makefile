# ucri: two commands on a fresh Debian machine, `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
NODE ?= node
UCRI_FLAGS ?=

.PHONY: all deps generate native build run test test-unit lint bench clean

all: build

deps:
	@hack/deps.sh

generate: deps
	@npx buf generate

## native: the project's small C helpers (native/*.c → dist/native/<name>), built with the system compiler
NATIVE_SRC := $(wildcard native/*.c)
NATIVE_BIN := $(patsubst native/%.c,dist/native/%,$(NATIVE_SRC))
native: $(NATIVE_BIN)
dist/native/%: native/%.c
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

build: generate native
	@npx tsc -p tsconfig.json

## run: install, build and start ucri in the foreground on /run/ucri/ucri.sock
run: build
	$(NODE) dist/cmd/ucri/main.js serve --install-default-network $(UCRI_FLAGS)

## test: install, build, lint, check the layering, and run every test with node's test runner
test: build lint
	$(NODE) --test --test-concurrency=1 dist/test/

## test-unit: only the fast tests that need no root (tests that need root, e.g. layer extraction with owners,
## devices and trusted xattrs, live under test/integration)
test-unit: build
	$(NODE) --test dist/test/unit/

lint: build
	@npx biome check .
	@$(NODE) dist/hack/check-layering.js

bench: build
	$(NODE) dist/hack/bench/main.js

clean:
	rm -rf dist pkg/cri/gen
