# reporting_assets: the commands a user runs. Each sets up what it needs first.
.PHONY: demo test ui live-alert bench setup setup-test lint clean

setup:
	scripts/bootstrap.sh demo

setup-test:
	scripts/bootstrap.sh test

## Generate the demo company and materialize everything for the latest complete period.
demo: setup
	.venv/bin/reporting db upgrade
	.venv/bin/reporting demo

## Start PostgreSQL, run the whole test suite, stop PostgreSQL.
test: setup-test
	scripts/run-tests.sh

# The PostHog hook's secret on this machine: $POSTHOG_HOOK_SECRET, else one made once (random,
# readable by its owner only) in var/data/hook.secret, shared by `make ui` and `make live-alert`.
HOOK_SECRET = $(or $(POSTHOG_HOOK_SECRET),$(shell mkdir -p var/data && ( [ -s var/data/hook.secret ] || ( umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > var/data/hook.secret ) ) && cat var/data/hook.secret))

## The Dagster UI on http://127.0.0.1:3000 (asset lineage, partitions, runs of `make demo`) and
## the web app on http://127.0.0.1:8080 (Today, reports, reviews; `make demo` prints a sign-in link).
ui: setup
	mkdir -p var/dagster_home && ( [ -s var/dagster_home/dagster.yaml ] || printf "telemetry:\n  enabled: false\n" > var/dagster_home/dagster.yaml )
	POSTHOG_HOOK_SECRET=$(HOOK_SECRET) .venv/bin/reporting serve & web=$$!; trap "kill $$web 2>/dev/null" EXIT INT TERM; \
	DAGSTER_HOME=$(CURDIR)/var/dagster_home .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## While `make ui` runs: the demo's payment-failure day, moved onto today, posted event by event
## to the web app's PostHog hook. The alert is on Today and in the outbox within a second of the
## breaching event.
live-alert: setup
	POSTHOG_HOOK_SECRET=$(HOOK_SECRET) .venv/bin/reporting intraday replay

## Measure the pipeline at volume (EVENTS=1000000 by default; EVENTS=10000000 for 10 M):
## the source stage, then the metric stage against pandas and bare DuckDB on the same day, then
## the metrics' event aggregates pushed down to PostHog (the local fake) against the raw pull,
## and the raw aggregation's memory at MEMORY_EVENTS (10 M and 30 M by default); then the
## rendering, delivery, weekly and monthly stages, the whole daily chain on a day of
## CHAIN_EVENTS (10 M by default) from sources to emails in the outbox, the web app, and a
## 30-day backfill through the run queue on a throwaway PostgreSQL (2 runs at once against 1).
bench: setup
	.venv/bin/python bench/bench_sources.py --events $(or $(EVENTS),1000000)
	.venv/bin/python bench/bench_metrics.py --events $(or $(EVENTS),1000000)
	.venv/bin/python bench/bench_pushdown.py --events $(or $(EVENTS),1000000)
	.venv/bin/python bench/bench_pushdown.py --memory-events $(or $(MEMORY_EVENTS),10000000,30000000)
	.venv/bin/python bench/bench_render.py
	.venv/bin/python bench/bench_delivery.py
	.venv/bin/python bench/bench_periods.py
	.venv/bin/python bench/bench_chain.py --events $(or $(CHAIN_EVENTS),10000000)
	.venv/bin/python bench/bench_web.py
	.venv/bin/python bench/bench_backfill.py

lint: setup-test
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

clean:
	rm -rf var bench/out
