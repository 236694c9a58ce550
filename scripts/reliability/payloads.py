"""Upload bodies built from the tiny model's fixture adapters: valid ones and broken variants."""
import gzip
import hashlib
import io
import json
import os
import struct
import tarfile

from server import FIXTURE_ADAPTERS

CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def fixture(name):
    """(config bytes, weights bytes) of a committed fixture adapter."""
    folder = os.path.join(FIXTURE_ADAPTERS, name)
    with open(os.path.join(folder, CONFIG), "rb") as c, open(os.path.join(folder, WEIGHTS), "rb") as w:
        return c.read(), w.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def multipart(files, boundary="reliabilityBoundary7"):
    """files: [(field name, filename or None, bytes)] -> (body, content type)."""
    out = b""
    for name, filename, data in files:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += disposition.encode() + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def adapter_multipart(config, weights):
    return multipart([(CONFIG, CONFIG, config), (WEIGHTS, WEIGHTS, weights)])


def tar(members, fmt=tarfile.USTAR_FORMAT):
    """members: [(path, kind, data)] with kind file, dir, symlink (data is the target), hardlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for path, kind, data in members:
            info = tarfile.TarInfo(path)
            info.mtime, info.mode = 1700000000, 0o644
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = data
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def adapter_tar(config, weights, folder="adapter"):
    return tar([(folder + "/", "dir", b""), (f"{folder}/{CONFIG}", "file", config), (f"{folder}/{WEIGHTS}", "file", weights)])


def gz(data):
    return gzip.compress(data, mtime=0)


def safetensors_with(weights, header_edit=None, payload=None):
    """Rewrites a safetensors file's header through `header_edit(dict)`; payload replaces the data."""
    length = struct.unpack("<Q", weights[:8])[0]
    header = json.loads(weights[8:8 + length])
    data = weights[8 + length:] if payload is None else payload
    if header_edit:
        header_edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def with_floats(weights, value):
    """The same tensors with their first float32 replaced by `value` (NaN, inf, ...)."""
    length = struct.unpack("<Q", weights[:8])[0]
    start = 8 + length
    return weights[:start] + struct.pack("<f", value) + weights[start + 4:]


def config_with(config, **changes):
    doc = json.loads(config)
    for key, value in changes.items():
        if value is DELETE:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def config_raw(config, key, raw_value):
    """Sets `key` to a raw JSON token Python would not write (1e999, NaN, -0)."""
    doc = json.loads(config)
    doc[key] = "@@RAW@@"
    return json.dumps(doc).replace('"@@RAW@@"', raw_value).encode()


DELETE = object()
