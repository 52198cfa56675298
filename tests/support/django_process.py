"""Start the real Django test backend (tests/servers/django_site) on a free port, drive its harness, stop it.

As stub_process.StubProcess (child_server.py): a real uvicorn child process, one per test module. The child
migrates a fresh SQLite file in a temp dir, seeds the demo user and the OAuth client, then serves.
"""

import os
import secrets
import shutil
import sys
import tempfile

from .child_server import ChildServer

CLIENT_ID = "authfetch-spa"  # the public OAuth application the child seeds
DEMO = {"username": "demo", "password": "demo"}


class DjangoProcess(ChildServer):
    def __init__(self, page_origin, *, tls=False, startup_timeout=60):
        """``page_origin``: the page's origin (or a list of them), allowed by CORS and CSRF;
        ``tls``: serve HTTPS (a page served over HTTPS may call no http:// API)."""
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
        command = [sys.executable, "-m", "tests.servers.django_site", "--port", "0", *(["--tls"] if tls else [])]
        super().__init__("django", command, env=env, startup_timeout=startup_timeout)

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
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
