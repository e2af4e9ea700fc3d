#!/usr/bin/env bash
# Starts the services the tests need, runs pytest, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
pgdir=$(mktemp -d /tmp/reporting-pg.XXXXXX)
port=${REPORTING_TEST_PG_PORT:-54329}
trap 'scripts/test-postgres.sh stop "$pgdir"' EXIT
REPORTING_TEST_PG_URL=$(scripts/test-postgres.sh start "$pgdir" "$port")
export REPORTING_TEST_PG_URL
# Bootstrap installed LibreOffice and poppler: the office-conversion tests must run, not skip.
export REPORTING_REQUIRE_SOFFICE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
.venv/bin/pytest "$@"
