"""Upload-to-first-token: how soon a freshly uploaded r=32 q,v LoRA serves.

Starts `adapter-serve serve --model DIR --adapters TMP --port 0` (loopback only), warms it up with
one base-model request and one request on an adapter uploaded beforehand, then R times: PUT
/v1/adapters/NAME (multipart/form-data: adapter_config.json + adapter_model.safetensors of a LoRA
not seen before under a new name) immediately followed by POST /v1/summarize on it with
max_new_tokens 1. Prints one JSON object (medians over R; upload_to_first_token_ms is the goal's
number) and stops the server it started (SIGTERM to its pid).

Usage: upload_latency.py --bin ADAPTER_SERVE --model DIR --adapter DIR [--adapter DIR ...] [--repeat R]
"""

import argparse
import http.client
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

DIALOGUE = "#Person1#: Can we move the meeting to Friday?\n#Person2#: Sure, ten o'clock works."


def multipart(directory):
    boundary = uuid.uuid4().hex
    body = b""
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        data = (Path(directory) / name).read_bytes()
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(port, method, path, body=None, content_type=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": content_type} if content_type else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
    return json.loads(data)


def summarize(port, adapter):
    body = {"dialogue": DIALOGUE, "parameters": {"max_new_tokens": 1}}
    if adapter:
        body["adapter"] = adapter
    return request(port, "POST", "/v1/summarize", json.dumps(body).encode(), "application/json")


def start_server(binary, model, adapters_dir, log, extra=()):
    proc = subprocess.Popen([binary, "serve", "--model", model, "--adapters", adapters_dir, "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            if "listening on http://" in line:
                return proc, int(line.strip().rsplit(":", 1)[1].strip("/"))
        elif proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("adapter-serve serve did not print 'listening on http://...'")


def stop_server(proc, timeout):
    """SIGTERM (the server drains), then SIGKILL if it has not exited within `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", action="append", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    bodies = [multipart(d) for d in args.adapter]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        with open(Path(tmp) / "serve.log", "w") as log:
            proc, port = start_server(args.bin, args.model, str(Path(tmp) / "adapters"), log)
            try:
                summarize(port, None)  # warm-up: base model
                t0 = time.perf_counter()
                base = summarize(port, None)
                base_ms = (time.perf_counter() - t0) * 1000
                request(port, "PUT", "/v1/adapters/warm", *bodies[0])
                summarize(port, "warm")  # warm-up: a LoRA request
                t0 = time.perf_counter()
                warm = summarize(port, "warm")
                warm_ms = (time.perf_counter() - t0) * 1000
                put_ms, first_ms, total_ms, generation_ms, second_generation_ms = [], [], [], [], []
                for i in range(args.repeat):
                    body, ctype = bodies[(i + 1) % len(bodies)]
                    name = f"fresh-{i}"
                    t0 = time.perf_counter()
                    request(port, "PUT", f"/v1/adapters/{name}", body, ctype)
                    t1 = time.perf_counter()
                    out = summarize(port, name)
                    t2 = time.perf_counter()
                    assert out["adapter"]["name"] == name and out["usage"]["output_tokens"] == 1, out
                    put_ms.append((t1 - t0) * 1000)
                    first_ms.append((t2 - t1) * 1000)
                    total_ms.append((t2 - t0) * 1000)
                    generation_ms.append(out["timing_ms"]["generation"])
                    second_generation_ms.append(summarize(port, name)["timing_ms"]["generation"])
            finally:
                stop_server(proc, timeout=30)
            log.flush()
            # The server logs how long each PUT spent validating (parse, checks, SHA-256) and
            # storing (write, fsync, rename).
            phases = {"validate_ms": [], "store_ms": []}
            for line in (Path(tmp) / "serve.log").read_text().splitlines():
                if "stored adapter" in line and "fresh-" in line:
                    for key in phases:
                        m = re.search(key + r"=(\d+)", line)
                        if m:
                            phases[key].append(int(m.group(1)))
    print(json.dumps({
        "upload_validate_ms": statistics.median(phases["validate_ms"]) if phases["validate_ms"] else None,
        "upload_store_ms": statistics.median(phases["store_ms"]) if phases["store_ms"] else None,
        "second_request_generation_ms": statistics.median(second_generation_ms),
        "upload_to_first_token_ms": statistics.median(total_ms), "upload_ms": statistics.median(put_ms),
        "first_request_ms": statistics.median(first_ms), "first_request_generation_ms": statistics.median(generation_ms),
        "base_request_ms": base_ms, "base_generation_ms": base["timing_ms"]["generation"],
        "loaded_adapter_request_ms": warm_ms, "loaded_adapter_generation_ms": warm["timing_ms"]["generation"],
        "adapter_bytes": len(bodies[0][0]), "input_tokens": warm["usage"]["input_tokens"],
        "repeat": args.repeat, "all_upload_to_first_token_ms": total_ms,
    }))


if __name__ == "__main__":
    main()
