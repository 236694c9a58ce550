"""The bad-input matrix: at least 150 hand-chosen requests, each with the status class it must get.

A case passes when its status is in the expected class, a 4xx carries our JSON error shape
exactly once, and there is no 5xx other than 503 with Retry-After. Uploads that must fail must
also leave nothing stored; DELETEs aimed outside the adapters directory must leave the sandbox's
sentinel folders and every stored adapter intact (those run last, each followed by a repair)."""
import json
import os
import shutil
import urllib.parse

import payloads as P
from wire import NoResponse, call, request_bytes, send

DIALOGUE = "#Person1#: Can we move the meeting to Friday?\n#Person2#: Sure, ten o'clock works."


class Case:
    def __init__(self, group, name, expect, method="GET", path="/", body=b"", headers=(), raw=None,
                 json_body=None, must_not_store=None, destructive=False, half_close=False):
        self.group, self.name, self.expect = group, name, expect
        self.method, self.path, self.body, self.headers = method, path, body, list(headers)
        if json_body is not None:
            self.body = json.dumps(json_body).encode()
            self.headers.append("Content-Type: application/json")
        self.raw, self.must_not_store, self.destructive, self.half_close = raw, must_not_store, destructive, half_close

    def wire(self):
        return self.raw if self.raw is not None else request_bytes(self.method, self.path, self.headers, self.body)


def summarize(group, name, expect, doc=None, body=None):
    if doc is not None:
        return Case(group, name, expect, "POST", "/v1/summarize", json_body=doc)
    return Case(group, name, expect, "POST", "/v1/summarize", body=body, headers=["Content-Type: application/json"])


def with_params(**params):
    return {"dialogue": DIALOGUE, "parameters": {"max_new_tokens": 4, **params}}


def raw_params(key, token):
    return ('{"dialogue": "hi", "parameters": {"max_new_tokens": 4, "%s": %s}}' % (key, token)).encode()


def parameter_cases():
    bad = {
        "max_new_tokens": [0, -1, 100000, 1.5, "4", True, []],
        "min_new_tokens": [-1, 1.5, "1", 100000],
        "num_beams": [0, -1, 4096, 2.5, "2"],
        "temperature": [-1, "1", [0.5]],
        "top_k": [-1, 1.5, "5"],
        "top_p": [0, -0.1, 1.5, "0.9"],
        "repetition_penalty": [0, -1, "1"],
        "no_repeat_ngram_size": [-1, 1.5],
        "length_penalty": ["x", {}],
        "seed": [-1, 1.5, "1"],
        "do_sample": [1, "true"],
        "early_stopping": ["sometimes", 2],
        "unknown_parameter": [1],
    }
    cases = []
    for key, values in bad.items():
        for v in values:
            cases.append(summarize("parameters", f"{key}={json.dumps(v)}", "4xx", with_params(**{key: v})))
    cases.append(summarize("parameters", "temperature=0 with do_sample", "4xx", with_params(temperature=0, do_sample=True)))
    for key, token in [("temperature", "1e999"), ("length_penalty", "-1e999"), ("top_p", "1e999"),
                       ("seed", "1e300"), ("max_new_tokens", "1e999"), ("top_k", "NaN")]:
        cases.append(summarize("parameters", f"{key}={token} (raw)", "4xx", body=raw_params(key, token)))
    good = [dict(top_p=1.0, do_sample=True, seed=1), dict(top_k=0), dict(num_beams=1), dict(no_repeat_ngram_size=0),
            dict(min_new_tokens=0), dict(seed=0), dict(early_stopping="never", num_beams=2),
            dict(temperature=0.5, do_sample=True, seed=3), dict(length_penalty=-1.0, num_beams=2),
            dict(do_sample=None), dict(repetition_penalty=1.5), dict(min_new_tokens=4)]
    for params in good:
        cases.append(summarize("parameters", f"valid {params}", "2xx", with_params(**params)))
    return cases


def body_cases():
    g = "bodies"
    cases = [summarize(g, name, "4xx", body=b) for name, b in [
        ("empty body", b""), ("null", b"null"), ("array", b"[]"), ("string", b'"x"'), ("number", b"5"),
        ("truncated", b'{"dialogue": "hi'), ("missing value", b'{"dialogue":}'), ("trailing comma", b'{"dialogue": "hi",}'),
        ("invalid UTF-8", b'{"dialogue": "\xff\xfe"}'), ("nesting 100k deep", b"[" * 100000 + b"]" * 100000),
        ("object nesting 10k deep", b'{"a":' * 10000 + b"1" + b"}" * 10000), ("single quotes", b"{'dialogue': 'hi'}"),
        ("NUL byte outside strings", b'{"dialogue": "hi"}\x00'), ("lone surrogate escape", b'{"dialogue": "\\ud800"}'),
    ]]
    for name, doc in [
        ("no dialogue", {"parameters": {}}), ("dialogue number", {"dialogue": 5}), ("dialogue null", {"dialogue": None}),
        ("dialogue list", {"dialogue": ["a"]}), ("dialogue object", {"dialogue": {}}), ("unknown field", {"dialogue": "hi", "x": 1}),
        ("adapter number", {"dialogue": "hi", "adapter": 5}), ("adapter empty list", {"dialogue": "hi", "adapter": []}),
        ("adapter three names", {"dialogue": "hi", "adapter": ["a", "b", "c"]}), ("adapter list of ints", {"dialogue": "hi", "adapter": [1]}),
        ("adapter unknown", {"dialogue": "hi", "adapter": "nope"}), ("adapter traversal", {"dialogue": "hi", "adapter": "../outside"}),
        ("adapter internal folder", {"dialogue": "hi", "adapter": ".adapter-serve"}), ("task unknown", {"dialogue": "hi", "task": "nope"}),
        ("task number", {"dialogue": "hi", "task": 5}), ("template without placeholder", {"dialogue": "hi", "prompt_template": "no"}),
        ("template number", {"dialogue": "hi", "prompt_template": 5}), ("return_token_ids string", {"dialogue": "hi", "return_token_ids": "yes"}),
        ("parameters list", {"dialogue": "hi", "parameters": []}), ("parameters string", {"dialogue": "hi", "parameters": "x"}),
        ("dialogue over max_input_tokens", {"dialogue": "word " * 5000, "parameters": {"max_new_tokens": 2}}),
    ]:
        cases.append(summarize(g, name, "4xx", doc))
    for name, doc in [
        ("dialogue with NUL and emoji", {"dialogue": "a\u0000b \U0001F600", "parameters": {"max_new_tokens": 2}}),
        ("special tokens in text", {"dialogue": "</s><pad><unk>", "parameters": {"max_new_tokens": 2}}),
        ("null optionals", {"dialogue": "hi", "adapter": None, "task": None, "parameters": None}),
        ("template given", {"dialogue": "hi", "prompt_template": "Q {dialogue} A", "parameters": {"max_new_tokens": 2}}),
    ]:
        cases.append(summarize(g, name, "2xx", doc))
    ev = "/v1/evaluate"
    for name, doc in [("evaluate no items", {}), ("evaluate items not list", {"items": 5}),
                      ("evaluate empty items", {"items": []}), ("evaluate item without reference", {"items": [{"dialogue": "a"}]}),
                      ("evaluate unknown adapter", {"items": [{"dialogue": "a", "reference": "b"}], "adapters": ["nope"]}),
                      ("evaluate 1000 items", {"items": [{"dialogue": "a", "reference": "b"}] * 1000})]:
        cases.append(Case(g, name, "4xx", "POST", ev, json_body=doc))
    return cases


def method_and_path_cases():
    cases = []
    for method, path in [("GET", "/v1/summarize"), ("PATCH", "/v1/summarize"), ("DELETE", "/v1/summarize"),
                         ("PUT", "/v1/tasks"), ("POST", "/v1/adapters"), ("POST", "/healthz"), ("BREW", "/healthz"),
                         ("OPTIONS", "/v1/adapters"), ("GET", "/v1/evaluate"), ("POST", "/v1/tasks/x"),
                         ("GET", "/v1/adapters/x/activate"), ("DELETE", "/metrics")]:
        cases.append(Case("methods", f"{method} {path}", "4xx", method, path))
    for path in ["/", "/v1", "/v1/", "/v1/summarize/x", "/v2/summarize", "/V1/SUMMARIZE", "/v1/adapters/x/y/z",
                 "/%00", "/" + "a" * 8000, "/v1/tasks/x/y", "/healthz/..", "/v1/adapters/x/deactivate"]:
        cases.append(Case("paths", f"GET {path[:40]}", "4xx", "GET", path))
    cases.append(Case("paths", "GET /healthz?x=%zz (malformed query escape)", "4xx", "GET", "/healthz?x=%zz"))
    return cases


def name_cases(valid_upload):
    """Names that must never address anything: GET, PUT, activate (DELETE runs in the destructive stage)."""
    body, ctype = valid_upload
    names = ["..", "%2e%2e", ".", ".adapter-serve", "..%2F..%2Foutside", "a%2Fb", "%00", "x%00y", "%ff",
             "x" * 65, "a%20b", "%2Fabs", "..%5Coutside", "~"]
    cases = []
    for n in names:
        cases.append(Case("names", f"GET {n[:30]}", "4xx", "GET", f"/v1/adapters/{n}"))
        cases.append(Case("names", f"PUT {n[:30]}", "4xx", "PUT", f"/v1/adapters/{n}", body=body,
                          headers=[f"Content-Type: {ctype}"], must_not_store=n))
        cases.append(Case("names", f"activate {n[:30]}", "4xx", "POST", f"/v1/adapters/{n}/activate",
                          json_body={"task": "t"}))
    return cases


def upload_cases():
    cfg, w = P.fixture("lora-qv")
    pcfg, pw = P.fixture("prompt-20")
    mp = P.adapter_multipart
    cases = []
    counter = [0]

    def put(name, expect, body, ctype=None, group="uploads"):
        counter[0] += 1
        adapter = f"up-{counter[0]:03d}"
        headers = [f"Content-Type: {ctype}"] if ctype else []
        cases.append(Case(group, name, expect, "PUT", f"/v1/adapters/{adapter}", body=body, headers=headers,
                          must_not_store=adapter if expect == "4xx" else None))

    def put_mp(name, expect, config, weights, group="uploads"):
        body, ctype = mp(config, weights)
        put(name, expect, body, ctype, group)

    put_mp("valid multipart LoRA", "2xx", cfg, w)
    put("valid tar soft prompt", "2xx", P.adapter_tar(pcfg, pw))
    put("valid tar.gz LoRA", "2xx", P.gz(P.adapter_tar(*P.fixture("lora-regex"))))
    body, ctype = P.multipart([("file", P.CONFIG, cfg), ("file2", P.WEIGHTS, w)])
    put("valid multipart by filename", "2xx", body, ctype)
    # Broken containers.
    put("empty body", "4xx", b"")
    put("plain text", "4xx", b"hello, world\n" * 10, "text/plain")
    put("random bytes", "4xx", bytes(range(256)) * 16)
    body, _ = mp(cfg, w)
    put("multipart without boundary", "4xx", body, "multipart/form-data")
    put("multipart wrong boundary", "4xx", body, "multipart/form-data; boundary=other")
    put("multipart truncated", "4xx", body[: len(body) // 2], "multipart/form-data; boundary=reliabilityBoundary7")
    put("multipart boundary too long", "4xx", body, "multipart/form-data; boundary=" + "b" * 300)
    put("multipart unterminated quoted boundary", "4xx", body, 'multipart/form-data; boundary="abc')
    b1, c1 = P.multipart([(P.CONFIG, P.CONFIG, cfg)])
    put("multipart config only", "4xx", b1, c1)
    b1, c1 = P.multipart([(P.WEIGHTS, P.WEIGHTS, w)])
    put("multipart weights only", "4xx", b1, c1)
    b1, c1 = P.multipart([(P.CONFIG, P.CONFIG, cfg), (P.CONFIG, P.CONFIG, cfg), (P.WEIGHTS, P.WEIGHTS, w)])
    put("multipart duplicate config", "4xx", b1, c1)
    b1, c1 = P.multipart([(P.CONFIG, P.CONFIG, cfg), (P.WEIGHTS, P.WEIGHTS, w)])
    put("multipart no closing delimiter", "4xx", b1[: -len("--reliabilityBoundary7--\r\n")], c1)
    t = P.adapter_tar(cfg, w)
    put("tar truncated", "4xx", t[:700])
    put("tar cut mid-file", "4xx", t[: len(t) // 2])
    put("tar dot-dot entry", "4xx", P.tar([("../" + P.CONFIG, "file", cfg), ("a/" + P.WEIGHTS, "file", w)]))
    put("tar absolute entry", "4xx", P.tar([("/tmp/" + P.CONFIG, "file", cfg), ("a/" + P.WEIGHTS, "file", w)]))
    put("tar symlink weights", "4xx", P.tar([("a/" + P.CONFIG, "file", cfg), ("a/" + P.WEIGHTS, "symlink", "/etc/passwd")]))
    put("tar hardlink weights", "4xx", P.tar([("a/" + P.CONFIG, "file", cfg), ("a/" + P.WEIGHTS, "hardlink", "a/" + P.CONFIG)]))
    put("tar without config", "4xx", P.tar([("a/" + P.WEIGHTS, "file", w)]))
    bad_sum = bytearray(t)
    bad_sum[150] ^= 0x11
    put("tar bad checksum", "4xx", bytes(bad_sum))
    put("tar size field huge", "4xx", t[:124] + b"77777777777\0" + t[136:])
    g = P.gz(t)
    put("gzip truncated", "4xx", g[: len(g) - 20])
    put("gzip bad CRC", "4xx", g[:-8] + bytes(8))
    put("gzip of random bytes", "4xx", P.gz(bytes(range(256)) * 8))
    put("gzip bomb (64 MiB of zeros)", "4xx", P.gz(b"\0" * (64 << 20)))
    put("gzip header only", "4xx", g[:10])
    # Bad safetensors, in a valid multipart.
    st = "safetensors"
    put_mp("safetensors empty", "4xx", cfg, b"", st)
    put_mp("safetensors 7 bytes", "4xx", cfg, b"\x08\0\0\0\0\0\0", st)
    put_mp("safetensors header length 2^63", "4xx", cfg, (1 << 63).to_bytes(8, "little") + w[8:], st)
    put_mp("safetensors header beyond file", "4xx", cfg, (len(w)).to_bytes(8, "little") + w[8:], st)
    put_mp("safetensors header not JSON", "4xx", cfg, (8).to_bytes(8, "little") + b"notjson!" + w[8:], st)
    put_mp("safetensors header a list", "4xx", cfg, (8).to_bytes(8, "little") + b"[1,2]   " + w[8:], st)

    def edit_all(fn):
        def edit(header):
            for k, v in header.items():
                if k != "__metadata__":
                    fn(v)
        return edit
    first = lambda fn: (lambda header: fn(header[sorted(k for k in header if k != "__metadata__")[0]]))
    put_mp("unknown dtype", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(dtype="Q7"))), st)
    put_mp("I64 dtype", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(dtype="I64", shape=[v["shape"][0], v["shape"][1] // 2]))), st)
    put_mp("offsets do not match shape", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(shape=[v["shape"][0] + 1, v["shape"][1]]))), st)
    put_mp("offsets beyond file", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(data_offsets=[v["data_offsets"][0] + 10**9, v["data_offsets"][1] + 10**9]))), st)
    put_mp("negative offsets", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(data_offsets=[-8, v["data_offsets"][1] - v["data_offsets"][0] - 8]))), st)
    put_mp("overlapping tensors", "4xx", cfg, P.safetensors_with(w, edit_all(lambda v: v.update(data_offsets=[0, v["data_offsets"][1] - v["data_offsets"][0]]))), st)
    put_mp("shape with 2^40 elements", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(shape=[1 << 20, 1 << 20]))), st)
    put_mp("missing lora_B", "4xx", cfg, P.safetensors_with(w, lambda h: [h.pop(k) for k in list(h) if "lora_B" in k][:1]), st)
    put_mp("lora_A reshaped (same bytes)", "4xx", cfg, P.safetensors_with(w, first(lambda v: v.update(shape=[v["shape"][0] * 2, v["shape"][1] // 2]))), st)
    put_mp("data truncated", "4xx", cfg, w[:-100], st)
    put_mp("NaN weight", "4xx", cfg, P.with_floats(w, float("nan")), st)
    put_mp("+inf weight", "4xx", cfg, P.with_floats(w, float("inf")), st)
    # Finite but so large that scale·B·A overflows Float32 at inference: refused at load (|ΔW| bound).
    put_mp("3e38 weight (finite, huge)", "4xx", cfg, P.with_floats(w, 3e38), st)
    # Bad adapter_config.json values.
    c = "configs"
    D = P.DELETE
    for name, config in [
        ("config not JSON", b"{nope"), ("config a list", b"[]"), ("config empty", b""),
        ("no peft_type", P.config_with(cfg, peft_type=D)), ("peft_type IA3", P.config_with(cfg, peft_type="IA3")),
        ("peft_type PREFIX_TUNING", P.config_with(cfg, peft_type="PREFIX_TUNING")), ("peft_type number", P.config_with(cfg, peft_type=5)),
        ("task_type CAUSAL_LM", P.config_with(cfg, task_type="CAUSAL_LM")), ("r 0", P.config_with(cfg, r=0)),
        ("r -4", P.config_with(cfg, r=-4)), ("r 1.5", P.config_with(cfg, r=1.5)), ("r string", P.config_with(cfg, r="8")),
        ("r 1e9", P.config_with(cfg, r=10**9)), ("r does not match tensors", P.config_with(cfg, r=4)),
        ("lora_alpha 1e308", P.config_with(cfg, lora_alpha=1e308)), ("lora_alpha 1e30", P.config_with(cfg, lora_alpha=1e30)),
        ("lora_alpha 1e999 (raw)", P.config_raw(cfg, "lora_alpha", "1e999")), ("lora_alpha NaN (raw)", P.config_raw(cfg, "lora_alpha", "NaN")),
        ("lora_alpha string", P.config_with(cfg, lora_alpha="16")),
        ("use_rslora with lora_alpha 1e300", P.config_with(cfg, lora_alpha=1e300, use_rslora=True)),
        ("alpha_pattern 1e308", P.config_with(cfg, alpha_pattern={"q": 1e308})), ("rank_pattern 0", P.config_with(cfg, rank_pattern={"q": 0})),
        ("target_modules empty", P.config_with(cfg, target_modules=[])), ("target_modules unknown", P.config_with(cfg, target_modules=["nonexistent"])),
        ("target_modules bad regex", P.config_with(cfg, target_modules="(")), ("target_modules number", P.config_with(cfg, target_modules=5)),
        ("use_dora", P.config_with(cfg, use_dora=True)), ("modules_to_save", P.config_with(cfg, modules_to_save=["lm_head"])),
        ("bias all", P.config_with(cfg, bias="all")), ("layers_to_transform 99", P.config_with(cfg, layers_to_transform=[99])),
        ("layers_to_transform -1", P.config_with(cfg, layers_to_transform=[-1])),
    ]:
        put_mp(name, "4xx", config, w, c)
    for name, config in [
        ("prompt num_virtual_tokens 0", P.config_with(pcfg, num_virtual_tokens=0)),
        ("prompt num_virtual_tokens -1", P.config_with(pcfg, num_virtual_tokens=-1)),
        ("prompt num_virtual_tokens 1e9", P.config_with(pcfg, num_virtual_tokens=10**9)),
        ("prompt token_dim 7", P.config_with(pcfg, token_dim=7)),
        ("prompt num_transformer_submodules 3", P.config_with(pcfg, num_transformer_submodules=3)),
    ]:
        put_mp(name, "4xx", config, pw, c)
    put_mp("prompt NaN embedding", "4xx", pcfg, P.with_floats(pw, float("nan")), c)
    return cases


def framing_cases():
    g = "framing"
    hz = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    post = "POST /v1/summarize HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
    body = b'{"dialogue": "hi", "parameters": {"max_new_tokens": 2}}'
    cases = [
        Case(g, "Content-Length -5", "4xx", raw=(post + "Content-Length: -5\r\n\r\n").encode() + body, half_close=True),
        Case(g, "Content-Length 10^12", "4xx", raw=(post + "Content-Length: 1000000000000\r\n\r\n").encode(), half_close=True),
        Case(g, "Content-Length abc", "4xx", raw=(post + "Content-Length: abc\r\n\r\n").encode() + body, half_close=True),
        Case(g, "two different Content-Lengths", "4xx", raw=(post + f"Content-Length: {len(body)}\r\nContent-Length: 3\r\n\r\n").encode() + body, half_close=True),
        Case(g, "bad chunk size", "4xx", raw=(post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").encode()),
        Case(g, "chunk longer than declared", "4xx", raw=(post + "Transfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n").encode(), half_close=True),
        Case(g, "unknown transfer coding", "4xx", raw=(post + "Transfer-Encoding: gzip\r\n\r\n").encode() + body, half_close=True),
        Case(g, "header without colon", "4xx", raw=(hz + "NoColonHere\r\n\r\n").encode()),
        Case(g, "NUL in header value", "4xx", raw=(hz + "X-Test: a\0b\r\n\r\n").encode()),
        Case(g, "100 KB header", "4xx", raw=(hz + "X-Big: " + "a" * 100000 + "\r\n\r\n").encode()),
        Case(g, "5000 headers", "4xx", raw=(hz + "".join(f"X-{i}: v\r\n" for i in range(5000)) + "\r\n").encode()),
        Case(g, "garbage request line", "4xx", raw=b"HELLO\r\n\r\n"),
        # 505 is the right answer to an HTTP/2.0 request line, so it is not counted as a server error.
        Case(g, "HTTP/2.0 request line", 505, raw=b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
        Case(g, "HTTP/1.1 without Host", "4xx", raw=b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"),
        # RFC 9112 5.2: a server may reject obs-fold (400) or replace it with spaces.
        Case(g, "obsolete line folding", ("2xx", "4xx"), raw=(hz + "X-A: a\r\n  folded\r\n\r\n").encode()),
        Case(g, "space before colon", "4xx", raw=(hz + "Content-Length : 0\r\n\r\n").encode()),
    ]
    return cases


def auth_cases(token):
    """Run against a server with an admin token."""
    g = "auth"
    cfg, w = P.fixture("prompt-20")
    body, ctype = P.adapter_multipart(cfg, w)
    cases = []
    for i, (name, header, expect) in enumerate([
        ("no Authorization", None, "4xx"), ("wrong token", f"Bearer x{token}", "4xx"), ("Basic scheme", f"Basic {token}", "4xx"),
        ("token prefix only", f"Bearer {token[:-1]}", "4xx"), ("token plus suffix", f"Bearer {token}x", "4xx"),
        ("empty bearer", "Bearer ", "4xx"), ("correct token", f"Bearer {token}", "2xx"),
        ("lowercase scheme (RFC 7235: case-insensitive)", f"bearer {token}", "2xx"),
        ("NUL after token", f"Bearer {token}\0junk", "4xx"),
    ]):
        headers = [f"Content-Type: {ctype}"] + ([f"Authorization: {header}"] if header is not None else [])
        raw = request_bytes("PUT", f"/v1/adapters/auth-{i}", headers, body)
        cases.append(Case(g, name, expect, raw=raw, must_not_store=f"auth-{i}" if expect == "4xx" else None))
    cases.append(Case(g, "DELETE without token", "4xx", "DELETE", "/v1/adapters/auth-6"))
    cases.append(Case(g, "activate without token", "4xx", "POST", "/v1/adapters/auth-6/activate", json_body={"task": "t"}))
    cases.append(Case(g, "DELETE task without token", "4xx", "DELETE", "/v1/tasks/t"))
    return cases


def destructive_cases(sandbox):
    g = "delete-traversal"
    outside_abs = urllib.parse.quote(os.path.join(sandbox.root, "outside", "abs_target"), safe="")
    cases = []
    for path in ["..%2Foutside%2Ftarget_dir", "%2E%2E%2Foutside%2Ftarget_dir", "..%2foutside%2ftarget_dir",
                 "%2e%2e?force=true", "..?force=true", ".adapter-serve?force=true", ".?force=true", "%2e?force=true",
                 outside_abs + "?force=true", "link-out?force=true", ".adapter-serve%2Ftmp?force=true",
                 "..%5Coutside%5Ctarget_dir"]:
        cases.append(Case(g, f"DELETE {urllib.parse.unquote(path)[:60]}", "4xx", "DELETE", f"/v1/adapters/{path}", destructive=True))
    cases.append(Case(g, "GET symlinked name", "4xx", "GET", "/v1/adapters/link-out"))
    cases.append(Case(g, "activate symlinked name", "4xx", "POST", "/v1/adapters/link-out/activate", json_body={"task": "t"}))
    return cases


class Sandbox:
    """<work>/sandbox/root/{adapters, outside/{target_dir, abs_target, linked_dir}}: every traversal
    the campaign sends stays inside `root`, so even the unfixed server can only damage the sandbox."""

    def __init__(self, work):
        self.top = os.path.join(work, "sandbox")
        self.root = os.path.join(self.top, "root")
        self.adapters = os.path.join(self.root, "adapters")

    def sentinels(self):
        return [os.path.join(self.root, "outside", d, "keep.txt") for d in ("target_dir", "abs_target", "linked_dir")]

    def build(self):
        shutil.rmtree(self.top, ignore_errors=True)
        os.makedirs(self.adapters)
        for path in self.sentinels():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("must survive\n")
        os.symlink(os.path.join(self.root, "outside", "linked_dir"), os.path.join(self.adapters, "link-out"))

    def damage(self, stored):
        """What a case destroyed: missing sentinels and stored adapters (name -> sha256)."""
        lost = [p for p in self.sentinels() if not os.path.exists(p)]
        for name, sha in stored.items():
            path = os.path.join(self.adapters, name, P.WEIGHTS)
            try:
                with open(path, "rb") as f:
                    if P.sha256(f.read()) != sha:
                        lost.append(path + " (changed)")
            except OSError:
                lost.append(path)
        return lost


def judge(case, response):
    """'' when the case passed, else why not. `expect` is a class ("4xx"), several, or a status."""
    s = response.status
    if s == case.expect:
        return "" if s < 400 or response.error_shape_ok() else f"{s} without our JSON error shape: {response.raw[:200]!r}"
    if s >= 500:
        if s == 503 and response.header("Retry-After"):
            return ""
        return f"5xx: {s} {response.body[:160]!r}"
    got = f"{s // 100}xx"
    if got not in (case.expect if isinstance(case.expect, tuple) else (case.expect,)):
        return f"expected {case.expect}, got {s} {response.body[:160]!r}"
    if s >= 400 and not response.error_shape_ok():
        return f"{s} without our JSON error shape (exactly once): {response.raw[:200]!r}"
    return ""


def run_case(server, case):
    try:
        response = send(server.port, case.wire(), timeout=60, half_close=case.half_close)
    except NoResponse as e:
        return None, f"no response ({e})"
    return response, judge(case, response)


def not_stored(server, name):
    if name is None:
        return ""
    try:
        r = call(server.port, "GET", f"/v1/adapters/{name}")
    except NoResponse as e:
        return f"GET after a refused upload: no response ({e})"
    return "" if r.status != 200 else f"refused upload of {name} was stored anyway"
