#!/usr/bin/env bash
# The chart's checks from the shell (tests/unit/deploy runs the same ones under pytest):
# helm lint --strict, helm template with each values set, kubeconform -strict on the output,
# chart README and topic data up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/helm-tools.sh)"
CHART=deploy/helm/logistics-backbone
PYTHON="${PYTHON:-.venv/bin/python}"

"$PYTHON" scripts/helm_readme.py --check
"$PYTHON" - <<'PY'
from pathlib import Path
from backbone.topic_render import CHART_TOPICS_FILE, chart_topics_json
from backbone.topics import load_topics
if Path(CHART_TOPICS_FILE).read_text() != chart_topics_json(load_topics()):
    raise SystemExit(f"{CHART_TOPICS_FILE} is stale: run `backbone topics render --out {CHART_TOPICS_FILE}`")
PY

for values in "" "$CHART/ci/all-enabled-values.yaml" "$CHART/ci/tls-values.yaml"; do
  args=(--kube-version "$KUBE_VERSION")
  [ -n "$values" ] && args+=(-f "$values")
  echo "== ${values:-default values}"
  "$HELM" lint --strict "${args[@]}" "$CHART"
  "$HELM" template backbone "$CHART" --namespace backbone "${args[@]}" \
    | "$KUBECONFORM" -strict -summary -kubernetes-version "$KUBE_VERSION" \
        -schema-location "$K8S_SCHEMAS" \
        -schema-location 'deploy/helm/crd-schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json' -
done
