#!/usr/bin/env python3
"""Checks what the schema validators cannot: that the deploy files agree with each other and
with config/adapter-serve.json (probes, drain times, names that reference each other, replica
counts, the ConfigMap's copy of the config). Prints one line per check; exits 1 on any failure."""
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CONFIG_TEXT = (ROOT / "config" / "adapter-serve.json").read_text(encoding="utf-8")
TIMEOUT = json.loads(CONFIG_TEXT)["request_timeout_seconds"]
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def k8s(name):
    return yaml.safe_load((DEPLOY / "k8s" / name).read_text(encoding="utf-8"))


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)", str(quantity))
    return int(m.group(1)) * units[m.group(2)] if m else None


def kubernetes():
    configmap, secret, pvc = k8s("configmap.yaml"), k8s("secret.yaml"), k8s("pvc.yaml")
    deployment, service, hpa, pdb = k8s("deployment.yaml"), k8s("service.yaml"), k8s("hpa.yaml"), k8s("pdb.yaml")
    check("k8s ConfigMap holds config/adapter-serve.json byte for byte",
          configmap["data"].get("adapter-serve.json") == CONFIG_TEXT)
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    [main] = [c for c in spec["containers"] if c["name"] == "adapter-serve"]
    check("k8s startupProbe GET /healthz", main["startupProbe"]["httpGet"]["path"] == "/healthz")
    check("k8s readinessProbe GET /readyz", main["readinessProbe"]["httpGet"]["path"] == "/readyz")
    check("k8s livenessProbe GET /healthz", main["livenessProbe"]["httpGet"]["path"] == "/healthz")
    pre_stop = main["lifecycle"]["preStop"]
    pre_stop_seconds = pre_stop.get("sleep", {}).get("seconds", 0)
    grace = spec["terminationGracePeriodSeconds"]
    check(f"k8s terminationGracePeriodSeconds {grace} > preStop {pre_stop_seconds} s + request timeout {TIMEOUT} s",
          grace > pre_stop_seconds + TIMEOUT)
    resources = main["resources"]
    check("k8s CPU and memory requests and limits set",
          all(resources.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")))
    check("k8s memory limit >= request",
          mebibytes(resources["limits"]["memory"]) >= mebibytes(resources["requests"]["memory"]))
    anti = spec.get("affinity", {}).get("podAntiAffinity", {})
    terms = anti.get("preferredDuringSchedulingIgnoredDuringExecution", []) + anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    selectors = [t.get("podAffinityTerm", t)["labelSelector"]["matchLabels"] for t in terms]
    check("k8s pod anti-affinity on the pods' own labels", any(s.items() <= labels.items() for s in selectors))
    pulls = [c for c in spec.get("initContainers", []) if c.get("command", [])[:2] == ["adapter-serve", "pull"]]
    check("k8s init container runs adapter-serve pull into the model volume",
          len(pulls) == 1 and any(m["name"] == "model" for m in pulls[0]["volumeMounts"]))
    env = {e["name"]: e for e in main["env"]}
    token = env.get("ADAPTER_SERVE_ADMIN_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check("k8s admin token from the Secret",
          token.get("name") == secret["metadata"]["name"] and token.get("key") in secret["stringData"])
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    check("k8s adapters volume is the ReadWriteMany claim, mounted at ADAPTER_SERVE_ADAPTERS",
          volumes["adapters"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
          and pvc["spec"]["accessModes"] == ["ReadWriteMany"] and mounts["adapters"] == env["ADAPTER_SERVE_ADAPTERS"]["value"])
    check("k8s model volume holds ADAPTER_SERVE_MODEL",
          env["ADAPTER_SERVE_MODEL"]["value"].startswith(mounts["model"] + "/")
          and pulls and pulls[0]["command"][-1] == env["ADAPTER_SERVE_MODEL"]["value"])
    check("k8s ConfigMap mounted where --config points",
          volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
          and main["args"][main["args"].index("--config") + 1] == mounts["config"] + "/adapter-serve.json")
    check("k8s Service selects the pods and targets their port",
          service["spec"]["selector"].items() <= labels.items()
          and all(p["targetPort"] in [q["name"] for q in main["ports"]] for p in service["spec"]["ports"]))
    check("k8s HPA scales the Deployment on CPU",
          hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
          and any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]))
    check("k8s PodDisruptionBudget selects the pods", pdb["spec"]["selector"]["matchLabels"].items() <= labels.items())


def compose():
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    replica = services["adapter-serve"]
    check("compose: 3 replicas", replica["deploy"]["replicas"] == 3)
    grace = int(replica["stop_grace_period"].rstrip("s"))
    check(f"compose: stop_grace_period {grace} s > request timeout {TIMEOUT} s", grace > TIMEOUT)
    check("compose: replicas share the adapters volume", "adapters:/adapters" in replica["volumes"] and "adapters" in doc["volumes"])
    pull = services["model-pull"]
    check("compose: model volume filled by adapter-serve pull",
          pull["entrypoint"] == ["adapter-serve", "pull"] and "model:/models" in pull["volumes"]
          and replica["depends_on"]["model-pull"]["condition"] == "service_completed_successfully")
    check("compose: admin token from the environment", "ADAPTER_SERVE_ADMIN_TOKEN" in replica["environment"])
    check("compose: API keys from a secret", "api_keys" in replica["secrets"] and "api_keys" in doc["secrets"])
    haproxy = (DEPLOY / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8")
    template = re.search(r"server-template\s+\S+\s+(\d+)\s+([\w-]+):(\d+)", haproxy)
    check("compose: HAProxy balances every replica, checking /readyz",
          template is not None and int(template.group(1)) == replica["deploy"]["replicas"]
          and template.group(2) == "adapter-serve" and "GET /readyz" in haproxy
          and any("haproxy.cfg" in v for v in services["lb"]["volumes"]))
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    sd = [c for job in prometheus["scrape_configs"] for c in job.get("dns_sd_configs", [])]
    check("compose: Prometheus scrapes every replica (DNS A records of the service)",
          any(c["names"] == ["adapter-serve"] and c["type"] == "A" and c["port"] == 8080 for c in sd)
          and any("prometheus.yml" in v for v in services["prometheus"]["volumes"]))


def systemd():
    unit = (DEPLOY / "systemd" / "adapter-serve.service").read_text(encoding="utf-8")
    keys = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    one = {k: v[-1] for k, v in keys.items()}
    check("systemd: dedicated or dynamic user", one.get("DynamicUser") == "yes" or bool(one.get("User")))
    for k, v in {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "on-failure"}.items():
        check(f"systemd: {k}={v}", one.get(k) == v)
    adapters = next(v.split("=", 1)[1] for v in keys["Environment"] if v.startswith("ADAPTER_SERVE_ADAPTERS="))
    check("systemd: ReadWritePaths covers the adapters directory", adapters in one.get("ReadWritePaths", "").split())
    check(f"systemd: TimeoutStopSec > request timeout {TIMEOUT} s", int(one["TimeoutStopSec"]) > TIMEOUT)
    check("systemd: LimitNOFILE allows thousands of connections", int(one["LimitNOFILE"]) >= 16384)


def dockerfile():
    text = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    check("Dockerfile: two stages (toolchain build, slim runtime)",
          len(re.findall(r"^FROM ", text, re.M)) == 2 and "bookworm-slim" in text)
    check("Dockerfile: HEALTHCHECK runs adapter-serve healthcheck",
          re.search(r'^HEALTHCHECK .*\n?.*CMD \["adapter-serve", "healthcheck"', text, re.M) is not None)
    check("Dockerfile: STOPSIGNAL SIGTERM", re.search(r"^STOPSIGNAL SIGTERM$", text, re.M) is not None)
    check("Dockerfile: ENTRYPOINT adapter-serve serve", '\nENTRYPOINT ["adapter-serve", "serve"]\n' in text)
    user = re.findall(r"^USER (\S+)", text, re.M)
    check("Dockerfile: runs as a non-root user", bool(user) and user[-1].split(":")[0] not in ("0", "root"))
    check("Dockerfile: model and adapters are volumes", re.search(r'^VOLUME \["/models", "/adapters"\]', text, re.M) is not None)


for section in (kubernetes, compose, systemd, dockerfile):
    try:
        section()
    except (KeyError, IndexError, TypeError, ValueError, StopIteration) as error:
        check(f"{section.__name__}: files have the expected structure", False, f"{type(error).__name__}: {error}")
print(f"manifest checks: {len(failures)} failed")
sys.exit(1 if failures else 0)
