"""Raw HTTP/1.1 over loopback sockets, so malformed requests go out exactly as written."""
import json
import socket
import time


class Response:
    def __init__(self, status, headers, body, raw, seconds):
        self.status, self.headers, self.body, self.raw, self.seconds = status, headers, body, raw, seconds

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_shape_ok(self):
        """Our error shape: a JSON object {"error": {"code": str, "message": str}}, sent once."""
        doc = self.json()
        return (isinstance(doc, dict) and isinstance(doc.get("error"), dict)
                and isinstance(doc["error"].get("code"), str) and isinstance(doc["error"].get("message"), str)
                and b"HTTP/1." not in self.body)


class NoResponse(Exception):
    """The server closed or reset the connection, or timed out, without a status line."""


def request_bytes(method, path, headers=(), body=b"", close=True):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    names = {h.split(":", 1)[0].lower() for h in headers}
    lines += list(headers)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def send(port, data, timeout=30.0, half_close=False):
    """Sends `data`, reads until the server closes (or one full response), returns a Response."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
                parsed = _parse(raw)
                if parsed and parsed[3]:
                    break
    except (ConnectionError, socket.timeout, OSError) as e:
        raise NoResponse(f"{type(e).__name__}: {e}") from None
    parsed = _parse(raw)
    if not parsed:
        raise NoResponse("connection closed without a status line" if not raw else f"unparsable response {raw[:80]!r}")
    status, headers, body, _ = parsed
    return Response(status, headers, body, raw, time.monotonic() - started)


def _parse(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    length = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), None)
    complete = length is not None and len(rest) >= length
    body = rest[:length] if complete else rest
    return int(parts[1]), headers, body, complete


def call(port, method, path, body=b"", headers=(), json_body=None, timeout=60.0):
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers = list(headers) + ["Content-Type: application/json"]
    return send(port, request_bytes(method, path, headers, body), timeout=timeout)


def healthy(port, timeout=5.0):
    try:
        return call(port, "GET", "/healthz", timeout=timeout).status == 200
    except NoResponse:
        return False
