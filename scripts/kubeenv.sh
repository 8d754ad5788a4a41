#!/usr/bin/env bash
# Builds (once) a real etcd and kube-apiserver from the Go module proxy, for the
# tests that need a Kubernetes API. Prints the folder holding the binaries.
# Tests start them on loopback themselves (package test/kubeenv).
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
  echo "$bin"
}

case "${1:-build}" in
  build) build ;;
  *) echo "usage: kubeenv.sh [build]" >&2; exit 2 ;;
esac
