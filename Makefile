# birthgate — every target that needs PostgreSQL uses DATABASE_URL when it is set, and otherwise
# starts a throwaway private cluster (scripts/with-pg) and stops it afterwards.
#
# Two kinds of targets:
#  - operator targets (build, migrate, migrate-down, migrate-status, metrics) need only Node.js
#    (npm) and a database: no PostgreSQL server binaries, pgTAP, pg_prove or promtool;
#  - development and test targets (setup, test, pgtap, vitest, verify, snapshot, demo, bench)
#    install the test tools first (scripts/setup.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := help
# PG=14|15|16|17|18 selects the PostgreSQL major of the throwaway cluster (default: Debian's, 15).
PG ?=
WITH_PG = scripts/with-pg $(if $(PG),--pg $(PG)) --
TSX := node --import tsx
BIRTHGATE := node bin/birthgate.mjs
DEMO_DIR := $(CURDIR)/.demo
BUILD_SOURCES := $(shell find src generator -name '*.ts' 2>/dev/null) tsconfig.json tsconfig.build.json package.json

.PHONY: help deps build setup setup-server generate verify snapshot freeze migrate migrate-down migrate-status metrics \
        pgtap vitest isolation promtool-test test test-matrix soak-handoff demo demo-stop bench typecheck clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- operator targets: Node.js and a database only ----------------------------------------

node_modules/.package-lock.json: package-lock.json
	@command -v npm >/dev/null || { echo "make: npm (Node.js >= 20) is required" >&2; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error

deps: node_modules/.package-lock.json ## Install the node modules (npm ci) when package-lock.json changed

dist/.built: $(BUILD_SOURCES) node_modules/.package-lock.json
	@rm -rf dist && npx --no-install tsc -p tsconfig.build.json && touch $@

build: dist/.built ## Compile the CLI (tsc: src/ and generator/ to dist/; dist/ is not committed)

migrate: build ## Apply pending migrations to DATABASE_URL (required); needs only Node and the database
	@test -n "$$DATABASE_URL" || { echo "make migrate: set DATABASE_URL" >&2; exit 2; }
	@$(BIRTHGATE) migrate up

migrate-down: build ## Roll back migrations on DATABASE_URL: N=1 (default) or N=all
	@test -n "$$DATABASE_URL" || { echo "make migrate-down: set DATABASE_URL" >&2; exit 2; }
	@if [ "$(N)" = all ]; then $(BIRTHGATE) migrate down --all; else $(BIRTHGATE) migrate down --count $${N:-1}; fi

migrate-status: build ## List applied and pending migrations on DATABASE_URL (exit 3 when some are pending)
	@test -n "$$DATABASE_URL" || { echo "make migrate-status: set DATABASE_URL" >&2; exit 2; }
	@$(BIRTHGATE) migrate status

metrics: build ## Print the Prometheus metrics of DATABASE_URL (TEXTFILE=path.prom writes a textfile-collector file)
	@test -n "$$DATABASE_URL" || { echo "make metrics: set DATABASE_URL" >&2; exit 2; }
	@$(BIRTHGATE) metrics $(if $(TEXTFILE),--textfile $(TEXTFILE))

# --- development and test targets ----------------------------------------------------------

setup: deps ## Install the test tools: PostgreSQL 15, pgTAP, pg_prove, promtool (Debian/Ubuntu)
	@scripts/setup.sh test

setup-server: deps
	@scripts/setup.sh server

generate: deps ## Regenerate migrations/, sql/, src/generated/ and docs/errors.md from generator/
	@$(TSX) generator/main.ts

typecheck: deps ## TypeScript strict type check
	@npx --no-install tsc --noEmit

verify: setup typecheck build ## Check generated files, released-migration checksums and the schema snapshot
	@$(WITH_PG) $(TSX) scripts/verify.ts

snapshot: setup build ## Rewrite schema/snapshot.sql from the current migrations (review the diff!)
	@$(WITH_PG) $(TSX) scripts/verify.ts --update-snapshot

freeze: deps ## Release new migrations: add their checksums to migrations.sha256 (never rewrites a line)
	@$(TSX) scripts/verify.ts --freeze

pgtap: setup build ## Run the pgTAP suites with pg_prove (PG=NN for another major)
	@$(WITH_PG) scripts/pgtap.sh

vitest: setup build ## Run the vitest suites only
	@$(WITH_PG) npx --no-install vitest run

isolation: setup build ## Run the isolation specs (isolation/specs/*.spec) with PostgreSQL's isolation tester
	@$(WITH_PG) scripts/isolation.sh

soak-handoff: setup build ## Run test/handoff-random.test.ts N times (default 20) with random seeds under background load
	@$(WITH_PG) env N=$(N) scripts/soak-handoff.sh

promtool-test: setup ## Run the Prometheus alert-rule unit tests (promtool test rules)
	@scripts/promtool-test.sh

test: setup build ## Run everything a contributor must keep green (vitest + pg_prove + isolation + promtool), one result; PG=17 for another major
	@$(WITH_PG) scripts/test.sh

test-matrix: setup build ## Install script, migrations and every pgTAP suite on PostgreSQL 14, 15, 16, 17 and 18 (one line each)
	@scripts/test-matrix.sh

demo: setup-server build ## Start a PostgreSQL under .demo/, install birthgate and walk through it (log in .demo/demo.log)
	@scripts/with-pg $(if $(PG),--pg $(PG)) --keep $(DEMO_DIR) -- scripts/demo.sh

demo-stop: ## Stop the demo cluster
	@scripts/with-pg $(if $(PG),--pg $(PG)) --stop $(DEMO_DIR)

bench: setup-server build ## Run the benchmarks (figures next to a same-run baseline; BENCH=name for one)
	@$(WITH_PG) scripts/bench.sh

clean: demo-stop ## Remove the demo cluster and the build
	rm -rf $(DEMO_DIR) dist
