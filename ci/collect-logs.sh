#!/usr/bin/env bash
# Collects what is needed to debug a failed lane: `kind export logs` (node journals, container
# logs, kubelet) plus a few kubectl views. Never fails: it runs when something already has.
#
# Usage: ci/collect-logs.sh [CLUSTER] [DIR]    (defaults: $NETPOL_CLUSTER or netpol; out/logs)
# It reads the lane's kubeconfig as ci/nightly-cni.sh writes it: $NETPOL_KUBECONFIG, or
# ~/.kube/netpol-CLUSTER when that exists.
set -euo pipefail

cluster=${1:-${NETPOL_CLUSTER:-netpol}}
dir=${2:-out/logs}
context=kind-$cluster
lane_config=${NETPOL_KUBECONFIG:-$HOME/.kube/netpol-$cluster}
if [ -f "$lane_config" ]; then
  export KUBECONFIG=$lane_config
fi
mkdir -p "$dir"

if ! kind export logs "$dir/kind" --name "$cluster"; then
  echo "warning: kind export logs failed for cluster $cluster" >&2
fi

# dump NAME KUBECTL-ARGS...: kubectl's output (or its error) goes to DIR/NAME.txt.
dump() {
  local name=$1
  shift
  if ! kubectl --context "$context" "$@" >"$dir/$name.txt" 2>&1; then
    echo "warning: kubectl $* failed (see $dir/$name.txt)" >&2
  fi
}
dump nodes get nodes -o wide
dump pods get pods -A -o wide
dump events get events -A --sort-by=.lastTimestamp
dump networkpolicies get networkpolicies -A -o yaml
dump tigerastatus get tigerastatus -o yaml
echo "logs of cluster $cluster are in $dir"
exit 0
