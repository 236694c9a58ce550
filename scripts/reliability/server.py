"""Starts and stops a release `adapter-serve` on loopback for the campaign (standard library only)."""
import json
import os
import select
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_MODEL = os.path.join(REPO, "Tests/Fixtures/models/tiny-flan")
TOKENIZER = os.path.join(REPO, "assets/flan-t5-base")
FIXTURE_ADAPTERS = os.path.join(TINY_MODEL, "adapters")


def release_binary(path=None):
    """The release binary of the current tree: `swift build -c release --product adapter-serve` runs
    every time (incremental, quick when nothing changed), so a stale binary is never the one tested.
    An explicit path is used as given."""
    if path:
        if not os.path.exists(path):
            raise SystemExit(f"no adapter-serve binary at {path}")
        return path
    print("building the release binary (swift build -c release --product adapter-serve) ...", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "adapter-serve"], cwd=REPO, check=True)
    return os.path.join(REPO, ".build/release/adapter-serve")


class Server:
    """One server process bound to 127.0.0.1 on a free port; its stderr goes to a log file."""

    def __init__(self, binary, workdir, adapters, model=TINY_MODEL, settings=None, label="server"):
        self.binary, self.workdir, self.adapters, self.model = binary, workdir, adapters, model
        self.settings = {"max_body_bytes": 8 << 20, "request_timeout_seconds": 60, **(settings or {})}
        self.label = label
        self.proc = None
        self.port = None
        self.starts = 0
        self.unexpected_exits = []   # (label, return code) of deaths we did not cause

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=120):
        os.makedirs(self.workdir, exist_ok=True)
        config = os.path.join(self.workdir, f"{self.label}-config.json")
        with open(config, "w") as f:
            json.dump(self.settings, f)
        self.starts += 1
        log = open(os.path.join(self.workdir, f"{self.label}-{self.starts}.log"), "wb")
        self.log_path = log.name
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTER_SERVE_")}
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", config, "--model", self.model, "--tokenizer", TOKENIZER,
             "--adapters", self.adapters, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=log, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} while starting; see {self.log_path}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"listening on "):
                    self.port = int(line.strip().rsplit(b":", 1)[1])
                    return self
        raise RuntimeError(f"{self.label} did not start within {timeout} s; see {self.log_path}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, where):
        """Records a death we did not cause (a crash) and restarts, so later cases still run."""
        if self.alive():
            return True
        self.unexpected_exits.append((where, self.proc.returncode))
        self.start()
        return False

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            if code != 0:
                self.unexpected_exits.append(("drain on SIGTERM", code))
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
