#!/usr/bin/env bash
# A whole cto deploy on the simulated datacenter (docs/simulation.md): builds
# cto and the datacenter, starts the datacenter on loopback, deploys a 3-node
# standard cluster on its Latitude.sh double with the normal live view, shows
# the cluster (status, cost, Kubernetes nodes and Argo CD Applications through
# the kubeconfig cto wrote, the files cto keeps), then destroys it and stops
# everything it started: on success, on failure and on Ctrl-C.
#
#   scripts/try.sh           deploy, look, destroy, clean up
#   scripts/try.sh --keep    deploy and look, then leave the datacenter and the
#                            cluster running and print the lines to use them
#
# No provider account, no Docker engine and no network beyond the Go module
# proxy are needed. Temporary files go under $TMPDIR (default /tmp).
# CTO_SIM_FLAGS passes flags to the datacenter, to watch cto meet a fault:
#   CTO_SIM_FLAGS="-fail-hosts cto-worker1" scripts/try.sh
# (`go run ./test/sim/cmd -h` lists them).
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
}

keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "try.sh: unknown argument '$arg'; the only option is --keep (see --help)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

say() { printf '\n==> %s\n' "$*"; }

# The test Kubernetes binaries (etcd, kube-apiserver, kubectl) are built once
# and cached; the first build is the slow part of a first run.
if missing=$(scripts/kubeenv.sh missing); then
  :
else
  say "First run: building the test Kubernetes binaries ($missing) from the Go module proxy."
  echo "    This takes about 15 minutes on 2 cores, once; later runs reuse them from ${CTO_KUBEENV_CACHE:-$HOME/.cache/cto-kubeenv}."
fi
started=$SECONDS
kube_bin=$(scripts/kubeenv.sh build)
if [ -n "${missing:-}" ]; then
  echo "    Built in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s."
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cto-try.XXXXXX")
sim_pid=""
deploying=0
finished=0

# cleanup runs once, whatever ends the script: it destroys what the deploy
# created (unless --keep after a success), stops the datacenter and removes
# the temporary folder.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$keep" = 1 ] && [ "$finished" = 1 ]; then
    exit "$rc"
  fi
  if [ "$deploying" = 1 ] && [ -d "$CTO_HOME/clusters/cto" ]; then
    say "Destroying the simulated cluster"
    "$work/bin/cto" destroy --name cto --yes || echo "try.sh: destroy failed; the datacenter is stopped next, which removes its servers too" >&2
  fi
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    say "Stopping the simulated datacenter"
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true # it stops etcd, the API server and the nodes first
  fi
  rm -rf "$work"
  case "$rc" in
    0) say "Done: deployed, looked at and destroyed; nothing is left running." ;;
    130|143) say "Interrupted; what the deploy had created is destroyed and nothing is left running." ;;
    *) say "try.sh failed (exit $rc), as the lines above say; what the deploy had created is destroyed and nothing is left running." ;;
  esac
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Building cto and the simulated datacenter"
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -o "$work/bin/cto" ./cmd/cto
go build -o "$work/bin/cto-sim" ./test/sim/cmd
cp "$(scripts/kubeenv.sh kubectl)" "$work/bin/kubectl"

say "Starting the simulated datacenter on loopback"
# In a session of its own: the datacenter stops on Ctrl-C too, and a
# Ctrl-C meant for cto deploy must leave it up for the destroy that follows.
# shellcheck disable=SC2086 # CTO_SIM_FLAGS is a list of flags
CTO_KUBEENV_BIN=$kube_bin setsid "$work/bin/cto-sim" ${CTO_SIM_FLAGS:-} >"$work/sim.env" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 240); do
  grep -q '^ready$' "$work/sim.env" 2>/dev/null && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "try.sh: the simulated datacenter stopped before it was ready:" >&2
    cat "$work/sim.log" >&2
    exit 1
  fi
  sleep 0.5
done
grep -q '^ready$' "$work/sim.env" || { echo "try.sh: the simulated datacenter was not ready within 2 minutes" >&2; exit 1; }
eval "$(grep '^export ' "$work/sim.env")"
export CTO_HOME=$work/home KUBECONFIG=$work/home/kubeconfig
export PATH=$work/bin:$PATH
echo "    Latitude.sh API at $LATITUDESH_API_URL, time runs ${CTO_SIMULATED_SPEED}x faster than the clock."

say "cto deploy --provider latitude --plan c2-small-x86 --nodes 3 --region DAL --profile standard --yes"
deploying=1
cto deploy --provider latitude --plan c2-small-x86 --nodes 3 --region DAL --profile standard --yes

say "cto status --name cto"
cto status --name cto

kubeconfig=$CTO_HOME/clusters/cto/kubeconfig
say "kubectl get nodes (through the kubeconfig cto wrote: $kubeconfig)"
kubectl --kubeconfig "$kubeconfig" get nodes -o wide
say "kubectl get applications -A (the platform's components, as Argo CD sees them)"
kubectl --kubeconfig "$kubeconfig" get applications.argoproj.io -A

say "The files cto keeps for this cluster"
ls -l "$CTO_HOME/clusters/cto"
finished=1

if [ "$keep" = 1 ]; then
  cat <<EOF

==> The datacenter (pid $sim_pid) and the cluster keep running. To use them by hand:

  eval "\$(grep '^export ' $work/sim.env)"
  export CTO_HOME=$CTO_HOME KUBECONFIG=$KUBECONFIG PATH=$work/bin:\$PATH
  cto status --name cto
  kubectl --kubeconfig $kubeconfig get nodes,applications.argoproj.io -A

docs/simulation.md says what else the datacenter serves. When you are done:

  cto destroy --name cto --yes
  kill $sim_pid
  rm -rf $work
EOF
fi
