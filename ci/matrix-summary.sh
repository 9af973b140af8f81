#!/usr/bin/env bash
# Builds the compatibility matrix from the lanes' results: markdown, HTML and JSON in OUT_DIR,
# and the markdown appended to the GitHub job summary (or printed, on a laptop).
# A CNI listed but without results.json (its job died early) still gets a column, marked missing.
#
# Usage: ci/matrix-summary.sh RESULTS_DIR OUT_DIR CNI...
#   RESULTS_DIR holds one folder per lane, each with a results.json
#   (what actions/download-artifact makes of the results-* artifacts, or out/ on a laptop).
# Environment: NETPOL_HARNESS, a netpol-harness binary to use instead of `cargo run`.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 RESULTS_DIR OUT_DIR CNI..." >&2
  exit 2
fi
results_dir=$1
out_dir=$2
shift 2

harness() {
  if [ -n "${NETPOL_HARNESS:-}" ]; then
    "$NETPOL_HARNESS" "$@"
  else
    cargo run --locked --quiet --manifest-path "$(dirname "$0")/../Cargo.toml" --bin netpol-harness -- "$@"
  fi
}

shopt -s nullglob
files=("$results_dir"/*/results.json)
expect=()
for cni in "$@"; do
  expect+=(--expect "$cni")
done

mkdir -p "$out_dir"
harness matrix "${files[@]}" "${expect[@]}" --output markdown --out "$out_dir/matrix.md"
harness matrix "${files[@]}" "${expect[@]}" --output html --out "$out_dir/matrix.html"
harness matrix "${files[@]}" "${expect[@]}" --output json --out "$out_dir/matrix.json"

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out_dir/matrix.md" >>"$GITHUB_STEP_SUMMARY"
else
  cat "$out_dir/matrix.md"
fi
