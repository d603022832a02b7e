#!/usr/bin/env bash
# Chart tooling, built offline from the Go module proxy into a cache dir (default ~/.cache/backbone):
#   bin/helm, bin/kubeconform             go install <module>@<version>
#   k8s-schemas/v<K8S>-standalone-strict  kubeconform's Kubernetes JSON schemas, generated from the
#                                         swagger.json in module k8s.io/kubernetes@v<K8S> by
#                                         scripts/k8s_schemas.py (GitHub, their usual source, is unreachable)
# Everything is skipped when already cached at the pinned version, so repeated runs cost nothing.
# Prints shell assignments for the callers (`eval "$(scripts/helm-tools.sh)"`):
#   HELM=... KUBECONFORM=... K8S_SCHEMAS=... KUBE_VERSION=...
# Exit 3 when the go toolchain is missing and something still has to be built.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
KUBE_VERSION="${KUBE_VERSION:-1.33.13}"
CACHE="${BACKBONE_CACHE_DIR:-$HOME/.cache/backbone}"
BIN="$CACHE/bin"
SCHEMAS="$CACHE/k8s-schemas"
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$BIN" "$SCHEMAS"

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "helm-tools: the go toolchain is not installed; cannot build $1" >&2
    exit 3
  fi
}

# A stamp file per tool records the version that produced the binary (binaries do not say cheaply).
install_tool() {
  local name="$1" module="$2" version="$3"
  local stamp="$BIN/.$name.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  need_go "$name"
  echo "helm-tools: go install $module@$version" >&2
  GOBIN="$BIN" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 go install "$module@$version" >&2
  echo "$version" >"$stamp"
}

install_schemas() {
  local target="$SCHEMAS/v$KUBE_VERSION-standalone-strict"
  if [ -f "$target/.complete" ]; then
    return 0
  fi
  need_go "the Kubernetes JSON schemas"
  echo "helm-tools: k8s.io/kubernetes@v$KUBE_VERSION swagger.json -> $target" >&2
  local dir
  # Outside any module, `go mod download` fetches one module zip into the module cache.
  dir="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/api/openapi-spec/swagger.json" ]; then
    echo "helm-tools: no api/openapi-spec/swagger.json in k8s.io/kubernetes@v$KUBE_VERSION" >&2
    exit 1
  fi
  rm -rf "$target"
  "$PYTHON" scripts/k8s_schemas.py openapi "$dir/api/openapi-spec/swagger.json" "v$KUBE_VERSION" "$SCHEMAS" >&2
  touch "$target/.complete"
}

install_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
install_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
install_schemas

echo "HELM=$BIN/helm"
echo "KUBECONFORM=$BIN/kubeconform"
echo "K8S_SCHEMAS=$SCHEMAS"
echo "KUBE_VERSION=$KUBE_VERSION"
