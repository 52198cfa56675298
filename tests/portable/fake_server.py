"""A fake backend for the client tests, shaped like the stub: rotating credentials, an expire
switch, scripted refresh outcomes and counters. Runs on CPython, MicroPython and Pyodide.

The fake transport has no cookie jar of its own, so this plays the browser's jar too: a request
sent with credentials carries ``jar_access`` as it is at the moment of sending.
"""

import asyncio
import json

from authfetch.testing import FakeTransport, NetworkFailure, reply

PAGE = "https://app.test/"
REFRESH = "https://app.test/api/v1/users/refresh-token"


class Gate:
    """An event tests open to let a held step go on."""

    def __init__(self):
        self.event = asyncio.Event()

    def open(self):
        self.event.set()

    async def passed(self):
        await self.event.wait()


class FakeServer:
    def __init__(self, *, mode="cookie"):
        self.mode = mode
        self.serial = 1
        self.min_valid = 1
        self.jar_access = "acc-1"
        self.bearer = "acc-1"
        self.csrf_serial = 1
        self.refresh_calls = 0
        self.expires_in = 60
        self.refresh_script = []  # per upcoming refresh: "ok", a status, "drop", a Gate, ("body", text)
        self.seen = []  # (method, path, carried access token, headers)
        self.handled = {}
        self.always_401 = set()
        self.hold = {}  # path -> Gate held before answering
        self.cookies = {"csrf_token": "csrf-1"}
        self.transport = FakeTransport(self, page_url=PAGE, cookies=self.cookies)

    def tab(self, browser):
        """Another tab of the same browser: same cookie jar, shared locks and channels."""
        return FakeTransport(self, page_url=PAGE, cookies=self.cookies, browser=browser)

    def expire(self):
        self.min_valid = self.serial + 1

    def valid(self, token):
        return isinstance(token, str) and token.startswith("acc-") and int(token[4:]) >= self.min_valid

    def count(self, path):
        return len([s for s in self.seen if s[1] == path])

    async def __call__(self, sent):
        path = sent.url[len("https://app.test") :] if sent.url.startswith("https://app.test") else sent.url
        if self.mode == "bearer":
            header = sent.headers.get("Authorization") or ""
            carried = header[7:] if header.startswith("Bearer ") else None
        else:
            carried = self.jar_access if sent.credentials else None
        self.seen.append((sent.method, path, carried, sent.headers))
        await asyncio.sleep(0)
        if path in self.hold:
            await self.hold[path].passed()
        if sent.url == REFRESH:
            return await self._refresh(sent)
        if path == "/api/v1/users/login":
            self._rotate()
            return reply(200, json={"data": {"accessToken": self.bearer, "expiresIn": self.expires_in}})
        if path in self.always_401 or not self.valid(carried):
            challenge = 'Bearer error="invalid_token"' if carried else "Bearer"
            return reply(401, json={"message": "unauthorized"}, headers={"WWW-Authenticate": challenge})
        if sent.method != "GET" and sent.credentials and sent.headers.get("X-CSRF-Token") != self.transport.cookies.get("csrf_token"):
            return reply(403, json={"message": "csrf"})
        request_id = sent.headers.get("X-Request-Id")
        if request_id:
            self.handled[request_id] = self.handled.get(request_id, 0) + 1
        return reply(200, json={"path": path, "length": len(sent.body)})

    def _rotate(self):
        self.serial += 1
        self.jar_access = self.bearer = "acc-" + str(self.serial)
        self.csrf_serial += 1
        self.transport.cookies["csrf_token"] = "csrf-" + str(self.csrf_serial)

    async def _refresh(self, sent):
        self.refresh_calls += 1
        step = self.refresh_script.pop(0) if self.refresh_script else "ok"
        if isinstance(step, Gate):
            await step.passed()
            step = "ok"
        if step == "drop":
            raise NetworkFailure("connection dropped")
        if isinstance(step, tuple):
            return reply(200, text=step[1], headers={"Content-Type": "application/json"})
        if isinstance(step, int):
            return reply(step, json={"message": "no"})
        if sent.headers.get("X-CSRF-Token") != self.transport.cookies.get("csrf_token"):
            return reply(403, json={"message": "csrf"})
        self._rotate()
        return reply(200, json={"data": {"accessToken": self.bearer, "expiresIn": self.expires_in}})


def body_of(payload):
    return json.dumps(payload)
