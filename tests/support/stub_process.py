"""Start the real stub (``python -m server_stub``) on a free port, talk to its test controls, stop it.

Used by the browser tests and the benchmark: a real uvicorn process, as users run it.
"""

import os
import pathlib
import queue
import subprocess
import sys
import threading

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]


class StubProcess:
    def __init__(self, *args, startup_timeout=30):
        command = [sys.executable, "-m", "server_stub", "--port", "0", "--test-controls", *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
        )
        self.output = []
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        self.url = None
        while self.url is None:
            try:
                line = lines.get(timeout=startup_timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError("stub did not start: " + "".join(self.output)) from None
            if line is None:
                raise RuntimeError("stub exited: " + "".join(self.output))
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
        self.origin = self.url.rstrip("/")
        self.http = httpx.Client(base_url=self.origin, timeout=10)

    def _pump(self, lines):
        for line in self.process.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def control(self, name, payload=None):
        response = self.http.post(f"/__stub__/{name}", json=payload or {})
        response.raise_for_status()
        return response.json()["data"]

    def stats(self):
        return self.http.get("/__stub__/stats").json()["data"]

    def reset(self):
        return self.control("reset")

    def expire(self):
        return self.control("expire")

    def faults(self, *refresh_faults):
        return self.control("faults", {"refresh": list(refresh_faults)})

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if hasattr(self, "http"):
            self.http.close()
