#!/usr/bin/env bash
# Installs the Debian packages AdapterServe builds against (OpenBLAS, oneDNN, libmicrohttpd, zlib,
# OpenSSL, pkg-config, curl for the HTTP tests, libcurl for `adapter-serve pull`, python3 for the
# fake Hub the pull tests start, binutils for the baseline-ISA check). Idempotent: does nothing
# when they are present.
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev binutils libmicrohttpd-dev zlib1g-dev libssl-dev pkg-config curl libcurl4-openssl-dev python3)
missing=()
packages+=(haproxy)  # deploy/local-cluster.sh and scripts/checks/deploy.sh (load balancer on loopback)
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # Wait for the dpkg lock rather than fail when another install is running.
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi
