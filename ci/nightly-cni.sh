#!/usr/bin/env bash
# One lane of the nightly CNI compatibility matrix. Runs the same on a laptop as in CI:
#   1. build netpol-harness,
#   2. create (or reuse) the kind cluster with CNI installed: `netpol-harness up --cni CNI`,
#   3. run the end-to-end tests against it, reading each step as the CNI's profile says:
#      `NETPOL_E2E=require NETPOL_E2E_CNI=CNI cargo test --test e2e`,
#   4. run every scenario and write OUT/CNI/results.json (+ JUnit) for `netpol-harness matrix`.
# Steps 3 and 4 both run even if one fails; the script exits non-zero if either did.
#
# Usage: ci/nightly-cni.sh CNI        CNI: calico | cilium | kindnet | antrea | flannel
# Environment:
#   NETPOL_CLUSTER   kind cluster name (default: netpol)
#   NETPOL_OUT       report root (default: out, relative to the repository)
#   NETPOL_HARNESS   a netpol-harness binary to use instead of `cargo run`
# The cluster is left running; delete it with `netpol-harness down --name "$NETPOL_CLUSTER"`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 1 ]; then
  echo "usage: $0 CNI   (calico | cilium | kindnet | antrea | flannel)" >&2
  exit 2
fi
cni=$1
cluster=${NETPOL_CLUSTER:-netpol}
out=${NETPOL_OUT:-out}/$cni

harness() {
  if [ -n "${NETPOL_HARNESS:-}" ]; then
    "$NETPOL_HARNESS" "$@"
  else
    cargo run --locked --quiet --bin netpol-harness -- "$@"
  fi
}

mkdir -p "$out"
cargo build --locked --bin netpol-harness
harness up --cni "$cni" --name "$cluster"

status=0
NETPOL_E2E=require NETPOL_E2E_CNI="$cni" cargo test --locked --test e2e || status=$?
harness run --all --cni "$cni" --report "$out" || status=$?

if [ "$status" -ne 0 ]; then
  echo "$cni lane failed (exit $status); results, if any, are in $out" >&2
fi
exit "$status"
