#!/usr/bin/env bash
# Docker 29 stores images in containerd by default ("containerd-snapshotter"), which breaks
# `kind load docker-image` (kubernetes-sigs/kind#3795, #4066). This switches the daemon back to the
# classic image store, as Antrea's CI does. It needs a Linux Docker Engine run by systemd; with
# Docker Desktop, untick "Use containerd for pulling and storing images" in its settings instead.
# (`netpol-harness up` also falls back to `docker save` + `kind load image-archive` by itself.)
#
# Usage: ci/setup-docker-classic.sh
# Environment:
#   DOCKER_DAEMON_JSON   the daemon's config file (default /etc/docker/daemon.json)
#   NO_SUDO=1            run everything as the current user even if it is not root
set -euo pipefail

conf=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}

uses_containerd_store() {
  docker info --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter'
}

if ! command -v docker >/dev/null 2>&1; then
  echo "docker is not installed" >&2
  exit 1
fi
if ! uses_containerd_store; then
  echo "Docker already uses the classic image store: nothing to do"
  exit 0
fi
if ! command -v systemctl >/dev/null 2>&1; then
  echo "Docker uses the containerd image store, and there is no systemctl to restart it." >&2
  echo "With Docker Desktop: Settings > General > untick 'Use containerd for pulling and storing images'." >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ] && [ -z "${NO_SUDO:-}" ]; then
  sudo=(sudo)
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [ -s "$conf" ]; then
  if ! command -v jq >/dev/null 2>&1; then
    echo "$conf exists; jq is needed to merge the setting into it" >&2
    exit 1
  fi
  jq '.features["containerd-snapshotter"] = false' "$conf" >"$tmp"
else
  echo '{"features": {"containerd-snapshotter": false}}' >"$tmp"
fi
"${sudo[@]}" mkdir -p "$(dirname "$conf")"
"${sudo[@]}" cp "$tmp" "$conf"
"${sudo[@]}" chmod 0644 "$conf"
"${sudo[@]}" systemctl restart docker

for _ in $(seq 1 30); do
  if docker info >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
if uses_containerd_store; then
  echo "Docker still uses the containerd image store after the restart" >&2
  exit 1
fi
echo "Docker now uses the classic image store"
