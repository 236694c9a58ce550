"""Mutation fuzz over HTTP: valid requests of every kind, mutated with a seeded generator and sent
raw. Any 5xx other than 503, a 4xx without our error shape, a hang or a crash is counted."""
import json
import random
import socket

import payloads as P
from wire import NoResponse, request_bytes, send

INTERESTING = [b"0", b"-1", b"1e308", b"1e999", b"-1e999", b"NaN", b"null", b"true", b"[]", b"{}", b'""',
               b"99999999999999999999", b"\x00", b"\xff", b"\\u0000", b"\\ud800", b"%2e%2e", b"..", b"/", b"\r\n"]


def templates(lora, prompt):
    dialogue = "#Person1#: Where is the station?\n#Person2#: Two blocks north, next to the bank."
    summarize = json.dumps({"dialogue": dialogue, "adapter": lora, "return_token_ids": True,
                            "parameters": {"max_new_tokens": 6, "num_beams": 2, "top_k": 5, "length_penalty": 1.0}}).encode()
    evaluate = json.dumps({"items": [{"dialogue": dialogue, "reference": "The station is north."}],
                           "adapters": ["base", lora], "parameters": {"max_new_tokens": 4}}).encode()
    cfg, w = P.fixture("prompt-20")
    mp, ctype = P.adapter_multipart(cfg, w)
    return [
        ("POST", "/v1/summarize", ["Content-Type: application/json"], summarize),
        ("POST", "/v1/evaluate", ["Content-Type: application/json"], evaluate),
        ("POST", f"/v1/adapters/{prompt}/activate", ["Content-Type: application/json"], b'{"task": "mutation"}'),
        ("PUT", "/v1/adapters/mut-{i}", [f"Content-Type: {ctype}"], mp),
        ("PUT", "/v1/adapters/mut-{i}", [], P.gz(P.adapter_tar(cfg, w))),
        ("PUT", "/v1/adapters/mut-{i}", [], P.adapter_tar(cfg, w)),
        ("GET", "/v1/adapters/{i}", [], b""),
    ]


def mutate(rng, data, rounds):
    data = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(6)
        if not data:
            data += rng.choice(INTERESTING)
            continue
        at = rng.randrange(len(data))
        if op == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[at] = rng.choice(b'\x00\xff"{}[],:\\0123456789-.eE ')
        elif op == 2:
            data[at:at] = rng.choice(INTERESTING)
        elif op == 3:
            del data[at:at + rng.randint(1, 64)]
        elif op == 4:
            end = min(len(data), at + rng.randint(1, 256))
            data[at:at] = data[at:end] * rng.randint(1, 8)
        else:
            end = min(len(data), at + rng.randint(1, 12))
            data[at:end] = rng.choice(INTERESTING)
    return bytes(data)


def run(server, count, seed, lora, prompt):
    rng = random.Random(seed)
    kinds = templates(lora, prompt)
    stats = {"requests": count, "2xx": 0, "4xx": 0, "503": 0, "505_bad_version": 0, "5xx_other": 0, "bad_error_shape": 0,
             "no_response": 0, "no_response_after_request_line_mutation": 0, "hangs": 0, "crashes": 0}
    findings = []
    for i in range(count):
        method, path, headers, body = rng.choice(kinds)
        path = path.replace("{i}", str(i))
        whole = rng.random() < 0.2
        if whole:
            wire = mutate(rng, request_bytes(method, path, headers, body), rng.randint(1, 4))
        else:
            wire = request_bytes(method, path, headers, mutate(rng, body, rng.randint(1, 8)))
        try:
            # A mutated header block may declare more body than is sent: half-close so the server
            # sees the end instead of waiting for bytes that never come (that would be our hang).
            r = send(server.port, wire, timeout=20, half_close=whole)
        except NoResponse as e:
            if "timed out" in str(e):
                stats["hangs"] += 1
                findings.append(f"#{i} {method} {path}: hang ({e})")
            elif whole:
                stats["no_response_after_request_line_mutation"] += 1
            else:
                stats["no_response"] += 1
                findings.append(f"#{i} {method} {path}: {e}")
        else:
            if r.status == 505 and whole:
                # A mutated request line naming HTTP/5.1 or HTTP/0.1: 505 is the right answer.
                stats["505_bad_version"] += 1
                if not r.error_shape_ok():
                    stats["bad_error_shape"] += 1
                    findings.append(f"#{i} {method} {path}: 505 without our error shape: {r.raw[:120]!r}")
            elif r.status >= 500 and not (r.status == 503 and r.header("Retry-After")):
                stats["5xx_other"] += 1
                findings.append(f"#{i} {method} {path}: {r.status} {r.body[:160]!r}; request {wire[:300]!r}")
            elif r.status == 503:
                stats["503"] += 1
            elif r.status >= 400:
                stats["4xx"] += 1
                if not r.error_shape_ok():
                    stats["bad_error_shape"] += 1
                    findings.append(f"#{i} {method} {path}: {r.status} without our error shape: {r.raw[:120]!r}")
            else:
                stats["2xx"] += 1
        if not server.check_alive(f"mutation #{i}"):
            stats["crashes"] += 1
            findings.append(f"#{i} {method} {path}: server died; input {wire[:200]!r}")
    # Worst first: crashes, hangs and server errors before error-shape mismatches.
    order = ("server died", "hang", ": 5", "no response")
    findings.sort(key=lambda f: next((n for n, key in enumerate(order) if key in f), len(order)))
    return stats, findings
