#!/usr/bin/env bash
# One lane of the nightly CNI compatibility matrix. Runs the same on a laptop as in CI:
#   1. build netpol-harness,
#   2. create (or reuse) the kind cluster with CNI installed: `netpol-harness up --cni CNI`,
#   3. run every scenario once against that cluster, then a budgeted set of generated cases
#      (NETPOL_GENERATED_MAX cases taken in turn from every suite, random ones seeded by the day
#      of the year), reading each step as the CNI's profile says, and write
#      OUT/CNI/results.json (+ JUnit) for `netpol-harness matrix` (which counts them per tag).
# Every kubectl, kind and harness call of the lane uses its own kubeconfig and names its context
# (`kind-CLUSTER`), so two lanes on one machine never test each other's cluster.
#
# Usage: ci/nightly-cni.sh CNI        CNI: calico | calico-3.31 | calico-dual | cilium | cilium-dual |
#                                          kindnet | antrea | flannel |
#                                          kube-network-policies
# Environment:
#   NETPOL_CLUSTER        kind cluster name (default: netpol)
#   NETPOL_OUT            report root (default: out, relative to the repository)
#   NETPOL_HARNESS        a netpol-harness binary to use instead of `cargo run`
#   NETPOL_KUBECONFIG     the lane's kubeconfig (default: ~/.kube/netpol-CLUSTER)
#   NETPOL_KIND_CONFIG    a kind config to create the cluster from (`up --kind-config`; its own
#                         node images, not the lane's pin)
#   NETPOL_INGRESS_PORTS  HTTP,HTTPS host ports for the ingress controller (default: 80,443)
#   NETPOL_GENERATED_MAX  generated cases per lane (default: 60; 0 runs none)
#   NETPOL_GENERATED_SEED seed of the random generated cases (default: the day of the year)
# The cluster is left running; delete it with `netpol-harness down --name "$NETPOL_CLUSTER"`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 1 ]; then
  echo "usage: $0 CNI   (calico | calico-3.31 | calico-dual | cilium | cilium-dual | kindnet | antrea | flannel | kube-network-policies)" >&2
  exit 2
fi
cni=$1
cluster=${NETPOL_CLUSTER:-netpol}
out=${NETPOL_OUT:-out}/$cni
context=kind-$cluster
export KUBECONFIG=${NETPOL_KUBECONFIG:-$HOME/.kube/netpol-$cluster}
mkdir -p "$(dirname "$KUBECONFIG")"

harness() {
  if [ -n "${NETPOL_HARNESS:-}" ]; then
    "$NETPOL_HARNESS" "$@"
  else
    cargo run --locked --quiet --bin netpol-harness -- "$@"
  fi
}

up_args=(--cni "$cni" --name "$cluster")
run_args=(--all --cni "$cni" --context "$context" --report "$out")
generated_max=${NETPOL_GENERATED_MAX:-60}
if [ "$generated_max" != 0 ]; then
  run_args+=(--generated all --max "$generated_max"
    --seed "${NETPOL_GENERATED_SEED:-$((10#$(date -u +%j)))}")
fi
if [ -n "${NETPOL_KIND_CONFIG:-}" ]; then
  up_args+=(--kind-config "$NETPOL_KIND_CONFIG")
elif [ -n "${NETPOL_INGRESS_PORTS:-}" ]; then
  up_args+=(--ingress-ports "$NETPOL_INGRESS_PORTS")
fi
if [ -n "${NETPOL_INGRESS_PORTS:-}" ]; then
  run_args+=(--outside-address "127.0.0.1:${NETPOL_INGRESS_PORTS%%,*}")
fi

mkdir -p "$out"
cargo build --locked --bin netpol-harness
harness up "${up_args[@]}"

status=0
harness run "${run_args[@]}" || status=$?

if [ "$status" -ne 0 ]; then
  echo "$cni lane failed (exit $status); results, if any, are in $out" >&2
fi
exit "$status"
