# birthgate — every target that needs PostgreSQL uses DATABASE_URL when it is set, and otherwise
# starts a throwaway private cluster (scripts/with-pg) and stops it afterwards.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# PG=14|15|16|17|18 selects the PostgreSQL major of the throwaway cluster (default: Debian's, 15).
PG ?=
WITH_PG = scripts/with-pg $(if $(PG),--pg $(PG)) --
TSX := node --import tsx
DEMO_DIR := $(CURDIR)/.demo

.PHONY: help setup generate verify snapshot freeze migrate migrate-down pgtap vitest isolation test test-matrix soak-handoff demo demo-stop bench typecheck clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install node modules, PostgreSQL 15 (+ the pinned 14/16/17/18 builds), pgTAP and pg_prove (Debian/Ubuntu)
	@scripts/setup.sh

generate: ## Regenerate migrations/, sql/ and src/generated/ from generator/
	@$(TSX) generator/main.ts

typecheck: setup ## TypeScript strict type check
	@npx --no-install tsc --noEmit

verify: setup typecheck ## Check generated files, released-migration checksums and the schema snapshot
	@$(WITH_PG) $(TSX) scripts/verify.ts

snapshot: setup ## Rewrite schema/snapshot.sql from the current migrations (review the diff!)
	@$(WITH_PG) $(TSX) scripts/verify.ts --update-snapshot

freeze: ## Release new migrations: add their checksums to migrations.sha256 (never rewrites a line)
	@$(TSX) scripts/verify.ts --freeze

migrate: setup ## Apply pending migrations to DATABASE_URL (required)
	@test -n "$$DATABASE_URL" || { echo "make migrate: set DATABASE_URL"; exit 2; }
	@node bin/birthgate.mjs migrate up

migrate-down: setup ## Roll back migrations on DATABASE_URL: N=1 (default) or N=all
	@test -n "$$DATABASE_URL" || { echo "make migrate-down: set DATABASE_URL"; exit 2; }
	@if [ "$(N)" = all ]; then node bin/birthgate.mjs migrate down --all; else node bin/birthgate.mjs migrate down --count $${N:-1}; fi

pgtap: setup ## Run the pgTAP suites with pg_prove (PG=NN for another major)
	@$(WITH_PG) scripts/pgtap.sh

vitest: setup ## Run the vitest suites only
	@$(WITH_PG) npx --no-install vitest run

isolation: setup ## Run the isolation specs (isolation/specs/*.spec) with PostgreSQL's isolation tester
	@$(WITH_PG) scripts/isolation.sh

soak-handoff: setup ## Run test/handoff-random.test.ts N times (default 20) with random seeds under background load
	@$(WITH_PG) env N=$(N) scripts/soak-handoff.sh

test: setup ## Run everything a contributor must keep green (vitest + pg_prove), one result; PG=17 for another major
	@$(WITH_PG) scripts/test.sh

test-matrix: setup ## Install script, migrations and every pgTAP suite on PostgreSQL 14, 15, 16, 17 and 18 (one line each)
	@scripts/test-matrix.sh

demo: setup ## Start a PostgreSQL under .demo/, install birthgate and show it working
	@scripts/with-pg $(if $(PG),--pg $(PG)) --keep $(DEMO_DIR) -- scripts/demo.sh

demo-stop: ## Stop the demo cluster
	@scripts/with-pg $(if $(PG),--pg $(PG)) --stop $(DEMO_DIR)

bench: setup ## Run the benchmarks (figures next to a same-run baseline)
	@$(WITH_PG) scripts/bench.sh

clean: demo-stop ## Remove the demo cluster
	rm -rf $(DEMO_DIR)
