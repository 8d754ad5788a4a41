#!/usr/bin/env bash
# The whole test suite: formatting, vet, the test Kubernetes API server (built
# once, then cached), and every Go test. The fault matrix (test/faults) runs
# its default subset; CTO_FULL_FAULTS=1 runs all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './test/kubeenv/*/*'))
if [ -n "$unformatted" ]; then
  echo "these files need gofmt -w:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== test kube-apiserver and etcd"
CTO_KUBEENV_BIN=$(scripts/kubeenv.sh build)
export CTO_KUBEENV_BIN

echo "== go test"
go test -count=1 -timeout 40m "$@" ./...
