#!/usr/bin/env bash
# Installs the Debian packages AdapterServe builds against (OpenBLAS, oneDNN, libmicrohttpd, zlib, OpenSSL,
# pkg-config, curl for the HTTP tests). Idempotent: does nothing when they are present.
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev binutils libmicrohttpd-dev zlib1g-dev libssl-dev pkg-config curl)
missing=()
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
