#!/usr/bin/env bash
# build-kustomize.sh BIN
#
# Builds BIN/kustomize from the Go module proxy, in the tools module hack/tools/kustomize
# (so the project's own go.mod stays clean). Needs only the Go toolchain. Quick when
# BIN/kustomize is already built from the current go.mod/go.sum: a stamp file records them.
set -euo pipefail

bin=${1:?usage: build-kustomize.sh BIN}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)
stamp=$bin/.kustomize-stamp
export GOWORK=off
cd "$root/hack/tools/kustomize"

want="$(cat go.mod go.sum | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x $bin/kustomize && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
	exit 0
fi
rm -f "$stamp"
go build -trimpath -o "$bin/kustomize" sigs.k8s.io/kustomize/kustomize/v5
"$bin/kustomize" version >&2
echo "$want" >"$stamp"
