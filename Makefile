# ucri: two commands on a fresh Debian machine, `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
NODE ?= node
UCRI_FLAGS ?=

.PHONY: all deps generate native build run test test-unit lint bench critest critest-docker clean install uninstall

all: build

deps:
	@hack/deps.sh

generate: deps
	@npx buf generate

## native: the project's small C helpers (native/*.c → dist/native/<name>), built with the system compiler
NATIVE_SRC := $(wildcard native/*.c)
NATIVE_BIN := $(patsubst native/%.c,dist/native/%,$(NATIVE_SRC))
native: $(NATIVE_BIN) dist/native/ucri-memory.node dist/native/ucri-fs.node
dist/native/%: native/%.c $(wildcard native/*.h)
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<
# pause runs inside the infra container's rootfs, which has no libc: it must be static.
dist/native/pause: native/pause.c
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<
# monitor runs once per container for its whole life: static, so that it maps no shared libraries (its RSS is
# what issue 8 counts; docs/performance.md, "Monitor, phase 6").
dist/native/monitor: native/monitor.c native/write-all.h
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

# ucri-memory.node: a Node-API addon (glibc's malloc_trim and V8's low-memory collection for the daemon,
# pkg/sys/memory.ts)
dist/native/ucri-memory.node: native/addon/memory.c native/addon/napi.h
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

# ucri-fs.node: a Node-API addon (renameat2's RENAME_EXCHANGE for the record writes, pkg/util/exchange.ts;
# a directory tree removed, or several dirs made, as one thread-pool job: pkg/util/remove-tree.ts, make-dirs.ts)
dist/native/ucri-fs.node: native/addon/fs.c native/addon/napi.h
	@mkdir -p dist/native
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $<

build: generate native
	@npx tsc -p tsconfig.json
	@$(NODE) dist/hack/bundle.js

## run: install, build and start ucri in the foreground on /run/ucri/ucri.sock
## (the node flags are cmd/ucri/node-flags.ts's SERVE_NODE_FLAGS, the environment its SERVE_ENV)
UCRI_NODE_FLAGS ?= --max-semi-space-size=1 --expose-gc --max-opt=2
run: build
	UV_THREADPOOL_SIZE=$${UV_THREADPOOL_SIZE:-16} MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-1} $(NODE) $(UCRI_NODE_FLAGS) dist/bundle/ucri/main.js serve --install-default-network $(UCRI_FLAGS)

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

## bench: ucri and containerd side by side (installs Debian containerd if missing); BENCH_QUICK=1 for a short run
bench: build
	flock /tmp/ucri-bench.lock $(NODE) dist/hack/bench/main.js

## critest: the CRI validation suite against a throw-away ucri (not part of `make test`; critest is built
## elsewhere): make critest CRITEST=/path/to/critest [CRITEST_FLAGS="-ginkgo.focus='Runtime info|execSync'"]
## (CRITEST_FLAGS goes through the shell: quote what holds spaces or |)
critest: build
	CRITEST=$(CRITEST) hack/critest/run.sh $(if $(CRITEST_FLAGS),-- $(CRITEST_FLAGS))

## critest-docker: the same suite through runtime handler `docker`, against a private dockerd the harness
## starts (own data root, exec root, pid file and socket; --iptables=false --bridge=none) and stops by PID
critest-docker: build
	CRITEST=$(CRITEST) hack/critest/run.sh --dockerd -- -runtime-handler=docker $(CRITEST_FLAGS)

## install: `ucri` on the PATH (a launcher running node with the daemon's flags on the installed build), the
## systemd unit ucri.service and a commented /etc/ucri/config.toml (hack/install.sh; an edited config is kept).
## PREFIX, SYSCONFDIR, SYSTEMD_UNIT_DIR and DESTDIR are honoured. uninstall removes what install put.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
INSTALL_ENV = PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) SYSTEMD_UNIT_DIR=$(SYSTEMD_UNIT_DIR) DESTDIR=$(DESTDIR) NODE=$(NODE)
install: build
	@$(INSTALL_ENV) hack/install.sh install

uninstall:
	@$(INSTALL_ENV) hack/install.sh uninstall

clean:
	rm -rf dist pkg/cri/gen
