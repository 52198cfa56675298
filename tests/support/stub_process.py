"""Start the real stub (``python -m server_stub``) on a free port, talk to its test controls, stop it.

Used by the browser tests and the benchmark: a real uvicorn process, as users run it.
"""

import os
import sys

from .child_server import ROOT, ChildServer  # noqa: F401  (ROOT: used by importers)


class StubProcess(ChildServer):
    def __init__(self, *args, startup_timeout=30):
        command = [sys.executable, "-m", "server_stub", "--port", "0", "--test-controls", *args]
        super().__init__("stub", command, env=dict(os.environ), startup_timeout=startup_timeout)

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
