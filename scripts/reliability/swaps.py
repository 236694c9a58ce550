"""Hot swaps under load: clients summarize through a task while the adapter behind it is
replaced and the task re-pointed. Every response must name an adapter the task was routed to,
with a sha256 uploaded under that name before the response arrived, and greedy outputs must be
identical for identical (adapter, sha256): a mix of two versions would break that."""
import threading
import time

import payloads as P
from wire import NoResponse, call

VERSIONS = ["lora-regex", "lora-patterns", "lora-all-rslora", "lora-qv"]
REQUEST = {"dialogue": "#Person1#: The printer is jammed again.\n#Person2#: I will call the technician.",
           "task": "swaps", "return_token_ids": True, "parameters": {"max_new_tokens": 8}}


def put(port, name, version, replace):
    body, ctype = P.adapter_multipart(*P.fixture(version))
    return call(port, "PUT", f"/v1/adapters/{name}" + ("?replace=true" if replace else ""), body,
                [f"Content-Type: {ctype}"], timeout=60).status


def run(server, seconds, clients):
    port = server.port
    lock = threading.Lock()
    uploaded = {"swap": [(0.0, P.sha256(P.fixture("lora-qv")[1]))], "swap-b": [(0.0, P.sha256(P.fixture("prompt-20")[1]))]}
    routed = [(0.0, "swap")]
    assert put(port, "swap", "lora-qv", False) == 201 and put(port, "swap-b", "prompt-20", False) == 201
    assert call(port, "POST", "/v1/adapters/swap/activate", json_body={"task": "swaps"}).status == 200
    stop = threading.Event()
    responses, swaps = [], {"replaces": 0, "reroutes": 0, "failed": 0}

    def client():
        while not stop.is_set():
            try:
                r = call(port, "POST", "/v1/summarize", json_body=REQUEST, timeout=60)
            except NoResponse as e:
                r = e
            with lock:
                responses.append((time.monotonic(), r))

    def swapper():
        i = 0
        while not stop.is_set():
            version = VERSIONS[i % len(VERSIONS)]
            with lock:   # registered before the PUT starts: a response may carry it from then on
                uploaded["swap"].append((time.monotonic(), P.sha256(P.fixture(version)[1])))
            status = put(port, "swap", version, True)
            swaps["replaces"] += 1
            if status != 201:
                swaps["failed"] += 1
            if i % 3 == 2:
                target = "swap-b" if i % 6 == 2 else "swap"
                with lock:
                    routed.append((time.monotonic(), target))
                if call(port, "POST", f"/v1/adapters/{target}/activate", json_body={"task": "swaps"}).status != 200:
                    swaps["failed"] += 1
                swaps["reroutes"] += 1
            i += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)] + [threading.Thread(target=swapper)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    stats = {"responses": len(responses), "200": 0, "non_200": 0, "5xx_other": 0, "no_response": 0,
             "wrong_adapter": 0, "unknown_sha": 0, "inconsistent_outputs": 0, **swaps}
    findings = []
    outputs = {}
    for received, r in responses:
        if isinstance(r, NoResponse):
            stats["no_response"] += 1
            findings.append(f"no response: {r}")
            continue
        if r.status != 200:
            stats["non_200"] += 1
            if r.status >= 500 and not (r.status == 503 and r.header("Retry-After")):
                stats["5xx_other"] += 1
            findings.append(f"{r.status}: {r.body[:160]!r}")
            continue
        stats["200"] += 1
        doc = r.json()
        adapter = doc.get("adapter") or {}
        name, sha = adapter.get("name"), adapter.get("sha256")
        if name not in {n for t, n in routed if t <= received} or r.header("X-Adapter") != name:
            stats["wrong_adapter"] += 1
            findings.append(f"adapter {name} (X-Adapter {r.header('X-Adapter')}) was never routed to the task")
            continue
        if sha not in {s for t, s in uploaded.get(name, []) if t <= received}:
            stats["unknown_sha"] += 1
            findings.append(f"{name} answered with sha {sha} not uploaded before the response")
            continue
        ids = tuple(doc.get("token_ids") or ())
        if outputs.setdefault((name, sha), ids) != ids:
            stats["inconsistent_outputs"] += 1
            findings.append(f"{name} {sha[:12]} produced {ids} and {outputs[(name, sha)]}")
    server.check_alive("swaps under load")
    return stats, findings[:20]
