#!/usr/bin/env bash
# Builds (once) a real etcd, kube-apiserver and kubectl from the Go module
# proxy, for the tests that need a Kubernetes API and for scripts/try.sh.
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
  echo "$bin"
}

# missing prints the binaries not built yet and fails when there are any.
missing() {
  local names=()
  [ -x "$bin/etcd-$etcd_version" ] || names+=("etcd")
  [ -x "$bin/kube-apiserver-$k8s_version" ] || names+=("kube-apiserver")
  [ -x "$bin/kubectl-$k8s_version" ] || names+=("kubectl")
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
