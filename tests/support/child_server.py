"""A server in a child process on a free port: started, its URL read from the line it prints
("... listening on <url>"), its output kept for the error if it dies, stopped. The stub and
the Django backend are both run so (stub_process.py, django_process.py)."""

import pathlib
import queue
import ssl
import subprocess
import threading
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]


class ChildServer:
    def __init__(self, name, command, *, env, startup_timeout):
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.output = []
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        self.url = None
        self.authority = None  # an HTTPS server's throw-away CA (its PEM file), which clients trust
        deadline = started + startup_timeout
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"{name} did not start: " + "".join(self.output)) from None
            if line is None:
                self.stop()
                raise RuntimeError(f"{name} exited ({self.process.returncode}): " + "".join(self.output))
            if line.startswith("tls certificate authority: "):
                self.authority = line.split(": ", 1)[1].strip()
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
        self.startup_seconds = time.monotonic() - started
        self.origin = self.url.rstrip("/")
        verify = ssl.create_default_context(cafile=self.authority) if self.authority else True
        self.http = httpx.Client(base_url=self.origin, timeout=10, verify=verify)

    def _pump(self, lines):
        for line in self.process.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def stop(self):
        try:
            if hasattr(self, "http"):
                self.http.close()  # first: uvicorn over TLS waited 10 s on an idle kept-alive connection
        finally:
            self._stop_process()

    def _stop_process(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
