#!/usr/bin/env bash
# Sets up a machine for reporting_assets: system packages (as root, via apt) and the Python venv.
# Usage: scripts/bootstrap.sh [demo|test]   (test also installs what only the tests need)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-demo}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# Chromium draws the charts (kaleido); PostgreSQL is the production Dagster instance and the
# test database; poppler reads PDFs back; LibreOffice proves decks and workbooks open.
demo_pkgs=(chromium fonts-dejavu-core)
test_pkgs=(postgresql poppler-utils libreoffice-impress-nogui libreoffice-calc-nogui)
wanted=("${demo_pkgs[@]}")
[ "$purpose" = test ] && wanted+=("${test_pkgs[@]}")

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Install exactly the locked tree (the tests' lock adds pytest, ruff, import-linter, aiosmtpd…),
# then the project itself without letting pip pick any other version.
lock=requirements.lock
[ "$purpose" = test ] && lock=requirements-dev.lock
stamp=.venv/.installed-$(cat pyproject.toml "$lock" | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$lock"
  .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -m pip check
  rm -f .venv/.installed-* && touch "$stamp"
fi
