#!/usr/bin/env bash
# Install the chart tooling (helm, kubeconform) from the Go module proxy into a cache dir and
# print that bin dir. Skips what is already cached at the pinned version, so repeated runs are free.
#
#   scripts/helm-tools.sh            -> installs if needed, prints e.g. /root/.cache/backbone/bin
#   BIN=$(scripts/helm-tools.sh) && "$BIN/helm" version
#
# Needs the go toolchain (exit 3 without it, so callers can tell "no go" from "install failed").
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
CACHE="${BACKBONE_CACHE_DIR:-$HOME/.cache/backbone}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

if ! command -v go >/dev/null 2>&1; then
  echo "helm-tools: the go toolchain is not installed; cannot build helm/kubeconform" >&2
  exit 3
fi

# A stamp file per tool records the version that produced the binary (binaries do not say cheaply).
install_tool() {
  local name="$1" module="$2" version="$3"
  local stamp="$BIN/.$name.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  echo "helm-tools: go install $module@$version" >&2
  GOBIN="$BIN" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 go install "$module@$version" >&2
  echo "$version" >"$stamp"
}

install_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
install_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
echo "$BIN"
