#!/usr/bin/env bash
# Installs what ucri needs on a Debian machine, and only what is missing: the host programs it drives and
# tests against (Debian packages), then the npm dependencies pinned in package-lock.json.
# Idempotent and quiet when everything is present; run by `make run`, `make test` and `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  runc crun conmon                       # OCI runtimes and the container monitor (linux launcher)
  criu                                   # CheckpointContainer and restore (through runc checkpoint/restore)
  containernetworking-plugins            # CNI plugins in /usr/lib/cni (network/cni isolator)
  iproute2 iptables util-linux mount     # netns, veth, portmap, unshare/nsenter, mount
  e2fsprogs                              # chattr: Orlov top directories for the stores (pkg/sys markTopDir)
  gcc libc6-dev                          # the native helpers under native/ (make native)
  zstd attr python3-minimal              # zstd layers; xattrs and device nodes in layers (python3 helper)
  docker-registry skopeo busybox-static  # tests: a real registry, a reference client, fixture images
  docker.io                              # the docker containerizer; tests start their own dockerd
  golang-go golang-google-grpc-dev golang-google-protobuf-dev  # tests: the grpc-go probe
  golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev  # tests: the Go streaming client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # docker.io's postinst would start the system dockerd (and containerd) through invoke-rc.d; ucri and its
  # tests start their own daemons, so service starts are refused while installing (policy-rc.d exit 101).
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  status=0
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  if [[ -n $made_policy ]]; then rm -f "$policy"; fi
  if ((status != 0)); then exit "$status"; fi
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "deps: Node.js 20 or newer is required" >&2
  exit 1
fi

# npm dependencies: reinstall when package-lock.json changed since the last install.
stamp=node_modules/.ucri-lock-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  # `npm ci` would refuse this lockfile: the registry reachable here serves no other platforms' optional
  # binaries (biome, buf), so they are absent from the lock. `npm install --no-save` installs exactly the
  # locked versions and never rewrites package-lock.json.
  echo "deps: npm install (locked versions)"
  npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
