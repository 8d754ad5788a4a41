#!/usr/bin/env bash
# Builds (once) a real etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl, and KWOK with its "fast" stages, from the Go
# module proxy, for the tests that need a Kubernetes API (and workloads that
# run) and for scripts/try.sh.
# Prints the folder holding the binaries. Tests start them on loopback
# themselves (package test/kubeenv).
#
# The cache lives outside the source tree: $CTO_KUBEENV_CACHE, default
# ~/.cache/cto-kubeenv. Binaries are reused when present.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${CTO_KUBEENV_CACHE:-$HOME/.cache/cto-kubeenv}
k8s_version=v1.36.3
etcd_version=v3.6.6
kwok_version=v0.8.0
bin=$cache/bin

# build_one NAME VERSION DIR HOW-LONG [go build flags...] builds $bin/NAME-VERSION
# from the module in test/kubeenv/DIR, unless it is there already.
build_one() {
  local name=$1 version=$2 dir=$3 how_long=$4
  shift 4
  [ -x "$bin/$name-$version" ] && return 0
  echo "kubeenv: building $name $version ($how_long the first time)" >&2
  (cd "$here/test/kubeenv/$dir" && go build -trimpath "$@" -o "$bin/$name-$version.tmp" . ) &&
    mv "$bin/$name-$version.tmp" "$bin/$name-$version"
}

build() {
  mkdir -p "$bin"
  # Kubernetes binaries report the version they were released as.
  local k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36"
  build_one etcd "$etcd_version" etcd "about a minute"
  build_one kube-apiserver "$k8s_version" apiserver "about ten minutes" -ldflags "$k8s_ldflags"
  build_one kubectl "$k8s_version" kubectl "a few minutes" -ldflags "$k8s_ldflags"
  build_one kube-controller-manager "$k8s_version" controller-manager "about five minutes" -ldflags "$k8s_ldflags"
  build_one kube-scheduler "$k8s_version" scheduler "a few minutes" -ldflags "$k8s_ldflags"
  build_kwok
  echo "$bin"
}

# build_kwok installs KWOK and writes beside it the stages it runs nodes
# and pods with, read from the module (KWOK runs no node or pod without
# stages): the "fast" node and pod stages, and the node heartbeat with a
# Lease, without which the node lifecycle controller takes a node for dead
# after 40 s and marks its pods not ready.
build_kwok() {
  local stages="$bin/kwok-stages-$kwok_version-lease.yaml"
  [ -x "$bin/kwok-$kwok_version" ] && [ -s "$stages" ] && return 0
  echo "kubeenv: building kwok $kwok_version (about three minutes the first time)" >&2
  local tmp
  tmp=$(mktemp -d)
  [ -x "$bin/kwok-$kwok_version" ] || GOBIN=$tmp go install "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
  local dir
  dir=$(cd "$tmp" && go mod download -json "sigs.k8s.io/kwok@$kwok_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  {
    cat "$dir/kustomize/stage/node/fast/node-initialize.yaml"
    echo "---"
    cat "$dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"
    for f in pod-ready pod-complete pod-delete; do
      echo "---"
      cat "$dir/kustomize/stage/pod/fast/$f.yaml"
    done
  } > "$stages.tmp"
  mv "$stages.tmp" "$stages"
  [ -x "$bin/kwok-$kwok_version" ] || mv "$tmp/kwok" "$bin/kwok-$kwok_version"
  rm -rf "$tmp"
}

# missing prints the binaries not built yet and fails when there are any.
missing() {
  local names=()
  [ -x "$bin/etcd-$etcd_version" ] || names+=("etcd")
  [ -x "$bin/kube-apiserver-$k8s_version" ] || names+=("kube-apiserver")
  [ -x "$bin/kubectl-$k8s_version" ] || names+=("kubectl")
  [ -x "$bin/kube-controller-manager-$k8s_version" ] || names+=("kube-controller-manager")
  [ -x "$bin/kube-scheduler-$k8s_version" ] || names+=("kube-scheduler")
  [ -x "$bin/kwok-$kwok_version" ] || names+=("kwok")
  [ ${#names[@]} -eq 0 ] && return 0
  echo "${names[*]}"
  return 1
}

case "${1:-build}" in
  build) build ;;
  missing) missing ;;
  kubectl) build >/dev/null && echo "$bin/kubectl-$k8s_version" ;;
  *) echo "usage: kubeenv.sh [build|missing|kubectl]" >&2; exit 2 ;;
esac
