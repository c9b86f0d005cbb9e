# owlette server: local development and CI entry points.
# Every target that needs the emulators runs through scripts/stack, which
# starts what is missing (Firestore, Auth, fake-gcs-server), reuses what is
# already up, and stops only what it started.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
PKGS        ?= ./...
# Extra flags for go test, e.g. `make test TESTFLAGS=-run=TestX` or TESTFLAGS='-race -v'.
# GOFLAGS from the environment or the command line reaches every go command.
TESTFLAGS   ?=
TESTTIMEOUT ?= 20m
TESTPAR     ?= 2
BENCH       ?= .
BENCHTIME   ?= 1s
# make load: simulated agents, the steady phase, faults (on/off or a list), ramp.
AGENTS      ?= 50
DURATION    ?= 10m
FAULTS      ?= off
RAMP        ?= 1m
LOADFLAGS   ?=

STACK := .stack/bin/stack
NODE_STAMP := tools/node_modules/.package-lock.json

.PHONY: help deps chromium dev test bench bench-server load fmt vet clean up down status stack-bin

help: ## show this help
	@echo "owlette server. Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 12
	@echo "Variables: TESTFLAGS='$(TESTFLAGS)' PKGS='$(PKGS)' TESTTIMEOUT=$(TESTTIMEOUT) BENCH='$(BENCH)' BENCHTIME=$(BENCHTIME)"

# npm's hidden lockfile is rewritten by every install, so it is newer than
# tools/package-lock.json exactly when node_modules matches it.
$(NODE_STAMP): tools/package-lock.json tools/package.json
	cd tools && npm ci --no-audit --no-fund
	@touch $@

deps: $(NODE_STAMP) chromium ## install the Node tools (only when stale), Chromium, and download Go modules
	$(GO) mod download

# Headless Chromium drives the passkey browser test (functions/passkeys).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else \
			echo "Chromium is missing: the passkey browser test will fail. Install it with: sudo apt-get install -y chromium"; \
		fi; \
	fi

# The stack runner is built, not `go run`: `go run` turns every non-zero exit
# into 1 and does not forward SIGTERM.
stack-bin:
	@mkdir -p $(dir $(STACK))
	@$(GO) build -o $(STACK) ./scripts/stack

dev: deps stack-bin ## run the dev server (all functions, seeded demo data) on the emulators
	$(STACK) dev

test: deps ## go vet, then every test against the emulators
	$(GO) vet $(PKGS)
	@mkdir -p $(dir $(STACK))
	$(GO) build -o $(STACK) ./scripts/stack
	$(STACK) run -- $(GO) test -count=1 -p $(TESTPAR) -timeout=$(TESTTIMEOUT) $(TESTFLAGS) $(PKGS)

bench: deps stack-bin ## benchmarks against the emulators (BENCH=regexp BENCHTIME=5s)
	$(STACK) run -- $(GO) test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -benchmem -timeout=$(TESTTIMEOUT) $(TESTFLAGS) $(PKGS)

bench-server: deps stack-bin ## cold start, p50/p99 latency and RSS of the dev server (scripts/bench)
	$(STACK) run -- $(GO) run ./scripts/bench

# Built, not `go run`, so Ctrl-C and the exit status reach the tool itself.
load: deps stack-bin ## load run: AGENTS simulated agents + operators against its own dev server (DURATION=10m FAULTS=off|on RAMP=1m LOADFLAGS=…)
	@$(GO) build -o .stack/bin/load ./scripts/load
	$(STACK) run --dev-env -- .stack/bin/load -agents $(AGENTS) -duration $(DURATION) -faults $(FAULTS) -ramp $(RAMP) $(LOADFLAGS)

up: stack-bin ## start the emulators and leave them running
	$(STACK) up

down: stack-bin ## stop the emulators that `make up` started
	$(STACK) down

status: stack-bin ## show which emulators answer
	@$(STACK) status

fmt: ## gofmt every Go file
	$(GO) fmt $(PKGS)

vet: ## go vet
	$(GO) vet $(PKGS)

clean: ## stop what `make up` started and remove .stack/ and emulator debug logs
	@if [ -x $(STACK) ]; then $(STACK) down; fi
	rm -rf .stack
	rm -f *-debug.log
