"""Start the real Django test backend (tests/servers/django_site) on a free port, drive its harness, stop it.

Mirrors stub_process.StubProcess: a real uvicorn child process, one per test module. The child
migrates a fresh SQLite file in a temp dir, seeds the demo user and the OAuth client, then serves.
"""

import os
import pathlib
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT_ID = "authfetch-spa"  # the public OAuth application the child seeds
DEMO = {"username": "demo", "password": "demo"}


class DjangoProcess:
    def __init__(self, page_origin, *, startup_timeout=60):
        """``page_origin``: the page's origin (or a list of them), allowed by CORS and CSRF."""
        origins = [page_origin] if isinstance(page_origin, str) else list(page_origin)
        self.page_origins = [o.rstrip("/") for o in origins]
        self.tmp = tempfile.mkdtemp(prefix="authfetch-django-")
        self.secret_key = secrets.token_urlsafe(48)  # the JWT signing key (tests may forge with it)
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="tests.servers.django_site.settings",
            AUTHFETCH_DJANGO_DB=os.path.join(self.tmp, "db.sqlite3"),
            AUTHFETCH_DJANGO_PAGE_ORIGINS=",".join(self.page_origins),
            AUTHFETCH_DJANGO_SECRET=self.secret_key,
            PYTHONUNBUFFERED="1",
        )
        command = [sys.executable, "-m", "tests.servers.django_site", "--port", "0"]
        started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.output = []
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        self.url = None
        deadline = started + startup_timeout
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError("django did not start: " + "".join(self.output)) from None
            if line is None:
                self.stop()
                raise RuntimeError(f"django exited ({self.process.returncode}): " + "".join(self.output))
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
        self.startup_seconds = time.monotonic() - started
        self.origin = self.url.rstrip("/")
        self.http = httpx.Client(base_url=self.origin, timeout=10)

    def _pump(self, lines):
        for line in self.process.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def control(self, name):
        response = self.http.post(f"/__harness__/{name}")
        response.raise_for_status()
        return response.json()

    def stats(self):
        response = self.http.get("/__harness__/stats")
        response.raise_for_status()
        return response.json()

    def reset(self):
        return self.control("reset")

    def expire(self):
        return self.control("expire")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "http"):
            self.http.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
