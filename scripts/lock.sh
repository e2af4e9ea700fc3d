#!/usr/bin/env bash
# Re-pins the whole dependency tree after a change to pyproject.toml: requirements.lock (what the
# demo installs) and requirements-dev.lock (plus the tests' and linters' packages). The versions
# already installed in .venv are kept where pyproject allows them, so a lock refresh changes only
# what the change asked for. Needs uv (`.venv/bin/pip install uv`).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
installed=$(mktemp)
trap 'rm -f "$installed"' EXIT
.venv/bin/pip freeze --exclude-editable | grep -v '^uv==' > "$installed"
for target in "requirements.lock:" "requirements-dev.lock:--extra dev"; do
  file=${target%%:*}
  extra=${target#*:}
  # shellcheck disable=SC2086
  "$uv" pip compile pyproject.toml -q --python-version 3.11 $extra --constraint "$installed" \
    --custom-compile-command "scripts/lock.sh" -o "$file"
  sed -i "\|#   -c $installed|d" "$file"
done
