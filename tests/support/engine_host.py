"""engine.js in a Node.js process, moved one step at a time from Python (tests/engine/host.mjs).

    host = EngineHost.shared()
    host.new({"maxInFlight": None, "pacedOrigin": "https://app.test"})
    answer = host.step(["profile", 1, settings], ["submit", 1, 1, url, "GET", None, flags, None])
    answer["calls"], answer["batches"], answer["settled"], answer["state"]

One process serves a whole test session (a fresh engine per ``new``); each step answers once
every promise it started has settled, so what it returns is all that step did.
"""

import atexit
import json
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST = ROOT / "tests/engine/host.mjs"


class EngineHost:
    _shared = None

    @classmethod
    def shared(cls):
        if cls._shared is None or cls._shared.process.poll() is not None:
            cls._shared = cls()
            atexit.register(cls._shared.close)
        return cls._shared

    def __init__(self):
        node = shutil.which("node")
        assert node, "Node.js is needed to run engine.js outside the browser"
        self.process = subprocess.Popen(
            [node, "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", str(HOST)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )

    def new(self, settings, *, connections=None):
        return self._send({"new": {"settings": json.dumps(settings), "connections": connections}})

    def step(self, *operations):
        return self._send(list(operations))

    def _send(self, value):
        self.process.stdin.write(json.dumps(value, allow_nan=False) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the engine host stopped: " + self.process.stderr.read()[-3000:])
        answer = json.loads(line)
        if answer["error"]:
            raise AssertionError("the engine host failed: " + answer["error"])
        return answer

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
