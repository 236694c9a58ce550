"""Slow connections: sockets that send part of a header block and go quiet, and sockets that
trickle one header line every few seconds. While they are open a normal client must still get
/healthz and a summary; a request not answered within LOCKOUT_SECONDS is a lockout."""
import socket
import threading
import time

from wire import NoResponse, call

LOCKOUT_SECONDS = 10.0
SUMMARY = {"dialogue": "#Person1#: Is the shop open?\n#Person2#: Yes, until nine.", "parameters": {"max_new_tokens": 8}}


def _open(port, count, first_bytes):
    sockets, failures = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(first_bytes)
            sockets.append(s)
        except OSError:
            failures += 1
    return sockets, failures


def _probe(port):
    """(healthz seconds or None, summary seconds or None, error text)."""
    results, errors = [], []
    for method, path, body in [("GET", "/healthz", None), ("POST", "/v1/summarize", SUMMARY)]:
        t0 = time.monotonic()
        try:
            r = call(port, method, path, json_body=body, timeout=LOCKOUT_SECONDS)
            ok = r.status == 200
            if not ok:
                errors.append(f"{path}: {r.status}")
        except NoResponse as e:
            ok = False
            errors.append(f"{path}: {e}")
        results.append(time.monotonic() - t0 if ok else None)
    return results[0], results[1], "; ".join(errors)


def scenario(server, name, idle, trickle, hold_seconds):
    partial = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    idle_socks, f1 = _open(server.port, idle, partial)
    trickle_socks, f2 = _open(server.port, trickle, partial)
    stop = threading.Event()

    def trickler():
        i = 0
        while not stop.wait(2.0):
            i += 1
            for s in trickle_socks:
                try:
                    s.sendall(f"X-Trickle-{i}: v\r\n".encode())
                except OSError:
                    pass
    t = threading.Thread(target=trickler, daemon=True)
    t.start()
    time.sleep(1.0)
    probes = []
    deadline = time.monotonic() + hold_seconds
    while True:
        probes.append(_probe(server.port))
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    stop.set()
    t.join()
    for s in idle_socks + trickle_socks:
        s.close()
    healthz = [p[0] for p in probes]
    summaries = [p[1] for p in probes]
    lockouts = sum(1 for p in probes if p[0] is None or p[1] is None)
    after = _probe(server.port)
    alive = server.check_alive(f"slow connections: {name}")
    return {
        "scenario": name, "idle_sockets": len(idle_socks), "trickle_sockets": len(trickle_socks),
        "open_failures": f1 + f2, "probes": len(probes), "lockouts": lockouts,
        "healthz_max_s": _max(healthz), "summary_max_s": _max(summaries),
        "errors": sorted({p[2] for p in probes if p[2]})[:3],
        "after_close_ok": after[0] is not None and after[1] is not None, "crashed": not alive,
    }


def _max(values):
    answered = [v for v in values if v is not None]
    return round(max(answered), 3) if answered else None


def run(server, count, hold_seconds):
    half = count // 2
    return [
        scenario(server, f"{count} idle partial headers", count, 0, hold_seconds),
        scenario(server, f"{count - half} idle + {half} trickling", count - half, half, hold_seconds),
        scenario(server, f"{half} trickling (one header line every 2 s)", 0, half, hold_seconds),
    ]
