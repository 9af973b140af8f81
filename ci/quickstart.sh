#!/usr/bin/env bash
# The main job in one command: build the harness, create a kind cluster with Calico and run every
# scenario on it. Docker is checked first; without it (or kind) the script says so, points at what
# works without a cluster (`analyze` on your own manifests, `plan`) and runs the oracle-only dry
# run instead.
#
#   ./ci/quickstart.sh                 # Calico (the default)
#   CNI=cilium ./ci/quickstart.sh      # another CNI profile: calico, cilium, kindnet, antrea, flannel
#   CLUSTER=netpol REPORT=out ./ci/quickstart.sh
#   NETPOL_HARNESS=path/to/netpol-harness ./ci/quickstart.sh   # use a binary, do not build
set -euo pipefail
cd "$(dirname "$0")/.."

cni="${CNI:-calico}"
cluster="${CLUSTER:-netpol}"
report="${REPORT:-out/${cni}}"

docker_ok=true
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  docker_ok=false
  echo "Docker is not available here, so no kind cluster can be created; building for the" >&2
  echo "commands that need no cluster." >&2
fi

harness="${NETPOL_HARNESS:-}"
if [ -z "$harness" ]; then
  echo "Building netpol-harness (release build; the first one compiles every dependency and takes" >&2
  echo "several minutes, cargo shows its progress below)..." >&2
  cargo build --release --locked --bin netpol-harness
  harness=target/release/netpol-harness
fi

if [ "$docker_ok" = false ]; then
  cat >&2 <<HINT

Without a cluster you can:
  $harness analyze -f YOUR-MANIFESTS/ [-n NAMESPACE]   # what your own manifests allow
  $harness plan --all                                  # every scenario's predicted matrix
  $harness matrix samples/results/*/results.json       # the CNI matrix from sample results
(install Docker and kind — https://kind.sigs.k8s.io/docs/user/quick-start/ — for the real run)
Running the oracle-only dry run now: $harness plan --all
HINT
  exec "$harness" plan --all
fi

"$harness" up --cni "$cni" --name "$cluster"
"$harness" run --all --cni "$cni" --context "kind-${cluster}" --report "$report"
