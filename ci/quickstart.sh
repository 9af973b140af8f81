#!/usr/bin/env bash
# The main job in one command: build the harness, create a kind cluster with Calico and run every
# scenario on it. Without Docker (or kind) it says so and runs the oracle-only dry run instead.
#
#   ./ci/quickstart.sh                 # Calico (the default)
#   CNI=cilium ./ci/quickstart.sh      # another CNI profile: calico, cilium, kindnet, antrea, flannel
#   CLUSTER=netpol REPORT=out ./ci/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cni="${CNI:-calico}"
cluster="${CLUSTER:-netpol}"
report="${REPORT:-out/${cni}}"

cargo build --release --quiet
harness=target/release/netpol-harness

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "Docker is not available here, so no kind cluster can be created." >&2
  echo "Running the oracle-only dry run instead: netpol-harness plan --all" >&2
  echo "(install Docker and kind — https://kind.sigs.k8s.io/docs/user/quick-start/ — for the real run)" >&2
  exec "$harness" plan --all
fi

"$harness" up --cni "$cni" --name "$cluster"
"$harness" run --all --cni "$cni" --context "kind-${cluster}" --report "$report"
