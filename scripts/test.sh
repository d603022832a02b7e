#!/usr/bin/env bash
# make test: lint + types + contracts, then the whole pytest suite against the real local stack.
# The stack is stopped on exit whatever happened, unless it was already running before.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

started_here=0
if ! $BIN/backbone stack status >/dev/null 2>&1; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ]; then $BIN/backbone stack down || true; fi; }
trap cleanup EXIT

echo "== static checks"
$BIN/ruff check .
$BIN/mypy
$BIN/backbone topics validate
$BIN/backbone schemas check --base history

echo "== local stack"
$BIN/backbone stack up
set -a; source .backbone/stack.env; set +a
$BIN/backbone topics apply
$BIN/backbone schemas register

echo "== pytest"
set +e
$BIN/pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi
exit "$rc"
