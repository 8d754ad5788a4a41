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

build() {
  mkdir -p "$bin"
  if [ ! -x "$bin/etcd-$etcd_version" ]; then
    echo "kubeenv: building etcd $etcd_version (about a minute the first time)" >&2
    (cd "$here/test/kubeenv/etcd" && go build -trimpath -o "$bin/etcd-$etcd_version.tmp" . ) &&
      mv "$bin/etcd-$etcd_version.tmp" "$bin/etcd-$etcd_version"
  fi
  if [ ! -x "$bin/kube-apiserver-$k8s_version" ]; then
    echo "kubeenv: building kube-apiserver $k8s_version (about ten minutes the first time)" >&2
    (cd "$here/test/kubeenv/apiserver" && go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36" \
      -o "$bin/kube-apiserver-$k8s_version.tmp" . ) &&
      mv "$bin/kube-apiserver-$k8s_version.tmp" "$bin/kube-apiserver-$k8s_version"
  fi
  if [ ! -x "$bin/kubectl-$k8s_version" ]; then
    echo "kubeenv: building kubectl $k8s_version (a few minutes the first time)" >&2
    (cd "$here/test/kubeenv/kubectl" && go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36" \
      -o "$bin/kubectl-$k8s_version.tmp" . ) &&
      mv "$bin/kubectl-$k8s_version.tmp" "$bin/kubectl-$k8s_version"
  fi
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
