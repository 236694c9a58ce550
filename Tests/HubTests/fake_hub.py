#!/usr/bin/env python3
"""A fake Hugging Face Hub on loopback for the pull tests (Python standard library only).

Two servers in one process: the Hub on 127.0.0.1 and its "CDN" on 127.0.0.2, so an LFS
redirect crosses to another host as on the real Hub. It speaks the protocol huggingface_hub
uses:
  GET /api/models/{repo}/revision/{rev}?blobs=true  -> {"sha", "siblings": [{rfilename, size, blobId, lfs}]}
  GET /{repo}/resolve/{rev}/{path}  -> LFS: 302 to the CDN with X-Linked-Size / X-Linked-Etag;
                                       other files: 307 to a relative /api/resolve-cache/... URL
  GET /api/resolve-cache/models/{repo}/{commit}/{path} -> the file, ETag = git blob sha1
  CDN GET /lfs/{sha256}              -> the file (Range supported)
Errors carry X-Error-Code / X-Error-Message as the Hub's do (RepoNotFound, GatedRepo,
RevisionNotFound, EntryNotFound). Hashes are computed here with hashlib, independently of the
client under test.

Test controls (never logged):
  POST /_control {"cut": {file: offset}}      next transfer of file stops after absolute offset (once)
                 {"corrupt": {file: offset}}  flip a bit of that byte in every transfer
                 {"status": {file: code}}     answer resolve requests for file with that status
                 {"ignore_range": {file: true}}  answer Range requests for file with the whole file (200)
                 {"clear": true}              drop all faults
  GET /_log   -> every request so far (server, path, range, authorization, status, body bytes
                 sent), once no request is in flight.

Usage: fake_hub.py CONFIG.json; prints {"hub": url, "cdn": url} on one line, exits when stdin
closes (so it never outlives the test process).
"""
import hashlib
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit


class State:
    def __init__(self, config):
        self.token = config.get("token")
        self.repos = {}
        for repo_id, repo in config["repos"].items():
            files = {}
            for name, spec in repo["files"].items():
                with open(spec["path"], "rb") as f:
                    data = f.read()
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                files[name] = {"data": data, "lfs": spec.get("lfs", False),
                               "sha256": hashlib.sha256(data).hexdigest(), "blob": blob}
            self.repos[repo_id] = {"commit": repo["commit"], "branches": repo.get("branches", ["main"]),
                                   "private": repo.get("private", False), "gated": repo.get("gated", False),
                                   "files": files}
        self.cond = threading.Condition()
        self.in_flight = 0
        self.log = []
        self.cut = {}
        self.corrupt = {}
        self.status = {}
        self.ignore_range = {}
        self.cdn_url = None

    def lfs_file(self, sha):
        for repo in self.repos.values():
            for name, f in repo["files"].items():
                if f["lfs"] and f["sha256"] == sha:
                    return name, f
        return None, None


def make_handler(state, server_name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            if self.path != "/_control":
                return self.reply(404, b"")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            with state.cond:
                if body.get("clear"):
                    state.cut.clear(); state.corrupt.clear(); state.status.clear(); state.ignore_range.clear()
                state.cut.update(body.get("cut", {}))
                state.corrupt.update(body.get("corrupt", {}))
                state.status.update({k: int(v) for k, v in body.get("status", {}).items()})
                state.ignore_range.update(body.get("ignore_range", {}))
            self.reply(200, b"{}")

        def do_GET(self):
            if self.path == "/_log":
                with state.cond:
                    state.cond.wait_for(lambda: state.in_flight == 0, timeout=60)
                    data = json.dumps(state.log).encode()
                return self.reply(200, data, {"Content-Type": "application/json"})
            with state.cond:
                state.in_flight += 1
            entry = {"server": server_name, "host": self.headers.get("Host"), "path": self.path,
                     "range": self.headers.get("Range"), "authorization": self.headers.get("Authorization"),
                     "status": None, "bytes": 0}
            try:
                self.route(entry)
            finally:
                with state.cond:
                    state.log.append(entry)
                    state.in_flight -= 1
                    state.cond.notify_all()

        # --- routing -------------------------------------------------------------------

        def route(self, entry):
            path = urlsplit(self.path).path
            if server_name == "cdn":
                if path.startswith("/lfs/"):
                    name, f = state.lfs_file(path[len("/lfs/"):])
                    if f is not None:
                        return self.send_file(entry, name, f, {})
                return self.error(entry, 404, "EntryNotFound", "no such object")
            parts = path.split("/")
            if path.startswith("/api/models/") and "/revision/" in path:
                head, rev = path[len("/api/models/"):].split("/revision/", 1)
                return self.revision(entry, head, unquote(rev))
            if path.startswith("/api/resolve-cache/models/"):
                rest = path[len("/api/resolve-cache/models/"):].split("/")
                repo_id, commit, name = "/".join(rest[:2]), rest[2], unquote("/".join(rest[3:]))
                return self.resolve(entry, repo_id, commit, name, cached=True)
            if len(parts) >= 6 and parts[3] == "resolve":
                repo_id, rev, name = "/".join(parts[1:3]), unquote(parts[4]), unquote("/".join(parts[5:]))
                return self.resolve(entry, repo_id, rev, name, cached=False)
            return self.error(entry, 404, None, "no route")

        def authorised_repo(self, entry, repo_id):
            auth = self.headers.get("Authorization")
            valid = state.token is not None and auth == "Bearer " + state.token
            if auth is not None and not valid:
                return self.error(entry, 401, None, "Invalid credentials in Authorization header")
            repo = state.repos.get(repo_id)
            if repo is None or (repo["private"] and not valid):
                if valid:
                    return self.error(entry, 404, "RepoNotFound", "Repository not found")
                return self.error(entry, 401, "RepoNotFound", "Invalid username or password.")
            if repo["gated"]:
                if not valid:
                    return self.error(entry, 401, "GatedRepo", "Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in." % repo_id)
                return self.error(entry, 403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized list." % repo_id)
            return repo

        def revision(self, entry, repo_id, rev):
            repo = self.authorised_repo(entry, repo_id)
            if repo is None:
                return
            if rev not in repo["branches"] and rev != repo["commit"]:
                return self.error(entry, 404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            siblings = []
            for name, f in sorted(repo["files"].items()):
                s = {"rfilename": name, "size": len(f["data"]), "blobId": f["blob"]}
                if f["lfs"]:
                    s["lfs"] = {"sha256": f["sha256"], "size": len(f["data"]), "pointerSize": 134}
                siblings.append(s)
            body = json.dumps({"id": repo_id, "sha": repo["commit"], "siblings": siblings}).encode()
            entry["status"] = 200
            self.reply(200, body, {"Content-Type": "application/json"})

        def resolve(self, entry, repo_id, rev, name, cached):
            repo = self.authorised_repo(entry, repo_id)
            if repo is None:
                return
            if rev not in repo["branches"] and rev != repo["commit"]:
                return self.error(entry, 404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            f = repo["files"].get(name)
            if f is None:
                return self.error(entry, 404, "EntryNotFound", "%s does not exist on \"%s\"" % (name, rev))
            with state.cond:
                forced = state.status.get(name)
            if forced is not None:
                return self.error(entry, forced, None, "injected failure")
            common = {"X-Repo-Commit": repo["commit"]}
            if f["lfs"]:
                headers = dict(common)
                headers.update({"Location": "%s/lfs/%s" % (state.cdn_url, f["sha256"]),
                                "X-Linked-Size": str(len(f["data"])), "X-Linked-Etag": '"%s"' % f["sha256"],
                                "ETag": '"%s"' % f["blob"]})
                entry["status"] = 302
                return self.reply(302, b"Found. Redirecting", headers)
            if not cached:
                headers = dict(common)
                headers.update({"Location": "/api/resolve-cache/models/%s/%s/%s" % (repo_id, repo["commit"], quote(name)),
                                "ETag": '"%s"' % f["blob"]})
                entry["status"] = 307
                return self.reply(307, b"Temporary Redirect", headers)
            common["ETag"] = '"%s"' % f["blob"]
            return self.send_file(entry, name, f, common)

        # --- responses -------------------------------------------------------------------

        def send_file(self, entry, name, f, headers):
            data = f["data"]
            size = len(data)
            start, status = 0, 200
            wanted = self.headers.get("Range")
            with state.cond:
                if state.ignore_range.get(name):
                    wanted = None
            if wanted:
                spec = wanted.strip()
                if not spec.startswith("bytes=") or "," in spec:
                    return self.error(entry, 416, None, "unsupported range")
                first, _, last = spec[len("bytes="):].partition("-")
                start = int(first)
                end = int(last) if last else size - 1
                if start >= size:
                    headers = dict(headers, **{"Content-Range": "bytes */%d" % size})
                    return self.error(entry, 416, None, "range not satisfiable", headers)
                status = 206
                headers = dict(headers, **{"Content-Range": "bytes %d-%d/%d" % (start, end, size)})
                data = data[:end + 1]
            with state.cond:
                corrupt = state.corrupt.get(name)
                cut = state.cut.pop(name, None)
            body = bytearray(data[start:])
            if corrupt is not None and start <= corrupt < start + len(body):
                body[corrupt - start] ^= 0x01
            entry["status"] = status
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Connection", "close")
            self.end_headers()
            limit = len(body) if cut is None else max(0, min(len(body), cut - start))
            sent = 0
            while sent < limit:
                n = min(65536, limit - sent)
                self.wfile.write(body[sent:sent + n])
                sent += n
            self.wfile.flush()
            entry["bytes"] = sent
            if cut is not None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def error(self, entry, status, code, message, headers=None):
            entry["status"] = status
            h = dict(headers or {})
            if code:
                h["X-Error-Code"] = code
            h["X-Error-Message"] = message
            self.reply(status, json.dumps({"error": message}).encode(), h)

        def reply(self, status, body, headers=None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    return Handler


def main():
    with open(sys.argv[1]) as f:
        state = State(json.load(f))
    hub = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state, "hub"))
    cdn = ThreadingHTTPServer(("127.0.0.2", 0), make_handler(state, "cdn"))
    hub.daemon_threads = cdn.daemon_threads = True
    state.cdn_url = "http://127.0.0.2:%d" % cdn.server_address[1]
    for server in (hub, cdn):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"hub": "http://127.0.0.1:%d" % hub.server_address[1], "cdn": state.cdn_url}), flush=True)
    sys.stdin.read()  # returns when the test process closes our stdin or exits
    os._exit(0)


if __name__ == "__main__":
    main()
