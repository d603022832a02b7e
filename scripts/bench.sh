#!/usr/bin/env bash
# make bench: every benchmark against the real local stack; JSON in bench/results/, summary printed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
started_here=0
if ! $BIN/backbone stack status >/dev/null 2>&1; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ]; then $BIN/backbone stack down || true; fi; }
trap cleanup EXIT
$BIN/backbone stack up
set -a; source .backbone/stack.env; set +a
$BIN/backbone topics apply
$BIN/backbone schemas register
# The baseline runs first so every later figure has its same-run reference.
$BIN/python -m bench.kafka_baseline
for module in bench/*_bench.py; do
  [ -e "$module" ] || continue
  name=$(basename "$module" .py)
  echo "== $name"
  $BIN/python -m "bench.$name"
done
$BIN/python -m bench.summary
