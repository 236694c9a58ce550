#!/usr/bin/env python3
"""Writes the committed seed corpora under Tests/Fuzz/corpus/<target>/ (standard library only).

Seeds are small valid inputs plus a few near-misses, so libFuzzer starts inside each format
instead of having to discover its magic bytes. Re-running rewrites the same files."""
import gzip
import io
import json
import os
import struct
import tarfile

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))
CORPUS = os.path.join(ROOT, "corpus")
FIXTURE_ADAPTERS = os.path.join(REPO, "Tests/Fixtures/models/tiny-flan/adapters")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: name -> (dtype, shape, raw bytes)."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def safetensors_seeds():
    t = "safetensors"
    write(t, "f32-2x2", safetensors({"w": ("F32", [2, 2], floats([1, 2, 3, 4]))}, {"format": "pt"}))
    write(t, "lora-pair", safetensors({
        "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight": ("F32", [2, 4], floats(range(8))),
        "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight": ("F32", [4, 2], floats(range(8))),
    }))
    write(t, "bf16-f16", safetensors({"a": ("BF16", [3], b"\x80\x3f" * 3), "b": ("F16", [2], b"\x00\x3c" * 2)}))
    write(t, "scalar-and-empty", safetensors({"s": ("F32", [], floats([7])), "e": ("F32", [0, 3], b"")}))
    write(t, "int-dtype", safetensors({"i": ("I64", [2], struct.pack("<2q", 1, -1))}))
    write(t, "overlap", struct.pack("<Q", 96) + json.dumps(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode().ljust(96) + b"\0" * 12)
    write(t, "truncated", safetensors({"w": ("F32", [4], floats([1, 2, 3, 4]))})[:-5])
    write(t, "nan-inf", safetensors({"w": ("F32", [3], floats([float("nan"), float("inf"), -0.0]))}))
    with open(os.path.join(FIXTURE_ADAPTERS, "prompt-20/adapter_model.safetensors"), "rb") as f:
        real = f.read()
    # The real soft prompt's header with a shortened payload: still a header the parser must judge.
    write(t, "prompt-20-header", real[:8 + struct.unpack("<Q", real[:8])[0]] + b"\0" * 64)


def config_seeds():
    t = "peft-config"
    for name in sorted(os.listdir(FIXTURE_ADAPTERS)):
        with open(os.path.join(FIXTURE_ADAPTERS, name, "adapter_config.json"), "rb") as f:
            write(t, name, json.dumps(json.load(f), separators=(",", ":")))
    base = {"peft_type": "LORA", "task_type": "SEQ_2_SEQ_LM", "r": 4, "lora_alpha": 8, "target_modules": ["q", "v"]}
    write(t, "regex-target", json.dumps({**base, "target_modules": r".*decoder.*\.(q|v)$"}))
    write(t, "huge-alpha", json.dumps({**base, "lora_alpha": 1e308}))
    write(t, "patterns", json.dumps({**base, "rank_pattern": {"q": 2, "encoder.block.1": 3},
                                     "alpha_pattern": {"v": 4.5}, "use_rslora": True,
                                     "layers_to_transform": [0, 1], "layers_pattern": "block",
                                     "exclude_modules": ["o"]}))
    write(t, "prompt", json.dumps({"peft_type": "PROMPT_TUNING", "task_type": "SEQ_2_SEQ_LM",
                                   "num_virtual_tokens": 20, "token_dim": 32, "num_transformer_submodules": 1}))
    write(t, "unsupported", json.dumps({**base, "use_dora": True, "modules_to_save": ["lm_head"]}))


def multipart(boundary, parts, line=b"\r\n"):
    out = b""
    for name, filename, data in parts:
        out += b"--" + boundary + line
        disposition = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += disposition + line + b"Content-Type: application/octet-stream" + line + line + data + line
    return out + b"--" + boundary + b"--" + line


def multipart_seeds():
    t = "multipart"
    parts = [(b"adapter_config.json", b"adapter_config.json", b'{"peft_type":"LORA","r":4}'),
             (b"adapter_model.safetensors", b"adapter_model.safetensors", safetensors({"w": ("F32", [1], floats([1]))}))]
    write(t, "two-files", b"multipart/form-data; boundary=XyZ\n" + multipart(b"XyZ", parts))
    write(t, "quoted-boundary", b'multipart/form-data; boundary="a b;c"\n' + multipart(b"a b;c", parts[:1]))
    write(t, "bare-lf", b"multipart/form-data; boundary=--b\n" + multipart(b"--b", parts, line=b"\n"))
    write(t, "preamble-epilogue", b"multipart/form-data; charset=utf-8; boundary=q\n"
          + b"preamble\r\n" + multipart(b"q", parts[:1]) + b"epilogue")
    write(t, "no-name", b"multipart/form-data; boundary=q\n--q\r\nContent-Type: text/plain\r\n\r\nx\r\n--q--\r\n")
    write(t, "unterminated", b"multipart/form-data; boundary=q\n--q\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc")


def tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = 0o644
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


def tar_seeds():
    t = "tar"
    files = [("adapter/", "dir", b""), ("adapter/adapter_config.json", "file", b'{"peft_type":"LORA"}'),
             ("adapter/adapter_model.safetensors", "file", safetensors({"w": ("F32", [1], floats([1]))}))]
    plain = tar_bytes(files)
    write(t, "ustar", plain)
    write(t, "ustar.gz", gz(plain))
    write(t, "pax-long-name", tar_bytes([("d/" + "n" * 150 + ".json", "file", b"{}")], tarfile.PAX_FORMAT))
    write(t, "gnu-long-name.gz", gz(tar_bytes([("g" * 120, "file", b"x")], tarfile.GNU_FORMAT)))
    write(t, "symlink", tar_bytes([("link", "symlink", "../../etc/passwd")]))
    write(t, "dotdot", tar_bytes([("../escape", "file", b"x")]))
    write(t, "truncated.gz", gz(plain)[:-9])
    write(t, "concatenated.gz", gz(plain[:512]) + gz(plain[512:]))


def json_seeds():
    t = "json-body"
    dialogue = "#Person1#: Can we move the meeting to Friday?\n#Person2#: Sure, ten o'clock works."
    write(t, "minimal", json.dumps({"dialogue": dialogue}))
    write(t, "beams", json.dumps({"dialogue": dialogue, "parameters": {"max_new_tokens": 4, "num_beams": 2,
                                  "length_penalty": 0.5, "early_stopping": "never", "no_repeat_ngram_size": 2}}))
    write(t, "sampling", json.dumps({"dialogue": dialogue, "return_token_ids": True,
                                     "parameters": {"do_sample": True, "temperature": 0.7, "top_k": 5,
                                                    "top_p": 0.9, "seed": 42, "repetition_penalty": 1.3,
                                                    "min_new_tokens": 2, "max_new_tokens": 6}}))
    write(t, "template", json.dumps({"dialogue": "hi", "prompt_template": "Q: {dialogue} A:", "task": None,
                                     "adapter": None}))
    write(t, "unknown-adapter", json.dumps({"dialogue": "hi", "adapter": ["a", "b"]}))
    write(t, "wrong-types", '{"dialogue": 5, "parameters": {"num_beams": "2", "top_p": 1e999}}')
    write(t, "unicode", json.dumps({"dialogue": "caf\u00e9 \u2603 \U0001F600 </s> <pad>"}, ensure_ascii=False))
    write(t, "not-object", "[1, 2, {\"dialogue\": \"x\"}]")


def tokenizer_seeds():
    with open(os.path.join(REPO, "Tests/Fixtures/tokenizer/tiny-tokenizers.json"), encoding="utf-8") as f:
        tiny = json.load(f)["tokenizers"]
    for i, entry in enumerate(tiny):
        write("tokenizer-load", "tiny-%d" % i, json.dumps(entry["tokenizer"], ensure_ascii=False))
    with open(os.path.join(REPO, "Tests/Fixtures/tokenizer/hard-strings.json"), encoding="utf-8") as f:
        hard = json.load(f)
    texts = [case["text"] for case in hard["encode"]][:24]
    for i, text in enumerate(texts):
        write("tokenizer-encode", "hard-%02d" % i, text)
    write("tokenizer-encode", "dialogue", "Summarize the following conversation.\n\n#Person1#: Hi!\n#Person2#: Hello.\n\nSummary: ")
    write("tokenizer-encode", "invalid-utf8", b"ab\xff\xfe\xc3(\xe2\x82 </s>\x00")


if __name__ == "__main__":
    safetensors_seeds()
    config_seeds()
    multipart_seeds()
    tar_seeds()
    json_seeds()
    tokenizer_seeds()
