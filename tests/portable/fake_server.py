"""A fake backend for the client tests, shaped like the stub: rotating credentials, an expire
switch, scripted refresh outcomes and counters. Runs under MicroPython and Pyodide.

The fake transport has no cookie jar of its own, so this plays the browser's jar too: a request
sent with credentials carries ``jar_access`` as it is at the moment of sending.

Under MicroPython and Pyodide in Node.js (run_node.mjs) the requests travel through the real
engine.js, whose ``fetch`` is run_node.mjs's adapter: it hands each request to this server and
answers with a Response.
"""

import asyncio
import json

from authfetch.models import Headers
from authfetch.testing import FakeAbort, FakeStream, FakeTransport, NetworkFailure, Sent, reply

try:
    import js

    REAL_ENGINE = bool(getattr(js, "portableFetch", None))
except ImportError:
    REAL_ENGINE = False

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
        self.parked = {}  # path -> requests waiting at its hold Gate now
        self.cookies = {"csrf_token": "csrf-1"}
        self.transport = self.tab(None)

    def tab(self, browser):
        """Another tab of the same browser: same cookie jar, shared locks and channels."""
        factory = real_engine if REAL_ENGINE else None
        return FakeTransport(self, page_url=PAGE, cookies=self.cookies, browser=browser, wire_factory=factory)

    def expire(self):
        self.min_valid = self.serial + 1

    def valid(self, token):
        return isinstance(token, str) and token.startswith("acc-") and int(token[4:]) >= self.min_valid

    async def until_parked(self, path, n):
        """Wait until ``n`` requests to ``path`` wait at its hold Gate (not merely sent)."""
        while self.parked.get(path, 0) < n:
            await asyncio.sleep(0)

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
            self.parked[path] = self.parked.get(path, 0) + 1
            await self.hold[path].passed()
            self.parked[path] -= 1
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


# -- the real engine.js in Node.js -----------------------------------------------------------------

if REAL_ENGINE:
    from authfetch.compat import spawn
    from authfetch.ffi import ffi
    from authfetch.transport import JsWire

    create_proxy, _ = ffi()
    _tabs = []  # transports by the number their engine's fetch names
    _aborts = {}  # request number -> FakeAbort while the server works on it

    def _serve(tab, ident, method, url, headers, body_hex, credentials):
        transport = _tabs[tab]
        body = bytes.fromhex(str(body_hex))
        sent = Sent(str(method), str(url), Headers(json.loads(str(headers))), body, bool(credentials))
        abort = _aborts[ident] = FakeAbort()

        async def run():
            outcome = await transport.serve(sent, abort)
            _aborts.pop(ident, None)
            if isinstance(outcome, Exception):
                js.portableFetch.settle(ident, 0, "[]", "", str(outcome))
            else:
                js.portableFetch.settle(ident, outcome.status, json.dumps(outcome.headers.items()), outcome.body.hex(), None)

        spawn(run())  # a task: the handler may wait on asyncio events

    def _abort(ident):
        abort = _aborts.pop(ident, None)
        if abort is not None:
            abort.abort()

    _keep = [create_proxy(_serve), create_proxy(_abort)]
    js.portableFetch.connect(_keep[0], _keep[1])

    class NodeWire(JsWire):
        """The real engine; a FakeStream body becomes a real ReadableStream on the way in."""

        def submit(self, ident, profile, request, flags):
            if isinstance(request.stream, FakeStream):
                request.stream = js.portableFetch.stream(request.stream.data.hex())
            return JsWire.submit(self, ident, profile, request, flags)

    def real_engine(transport, *, max_in_flight, paced_origin):
        _tabs.append(transport)
        read_cookie = create_proxy(lambda name: transport.read_cookie(str(name)))
        _keep.append(read_cookie)
        # transport.limit: the connections "auto" finds in this fake browser (None: unknown).
        environment = js.portableFetch.environment(len(_tabs) - 1, read_cookie, transport.limit)
        settings = json.dumps({"maxInFlight": max_in_flight, "pacedOrigin": paced_origin})
        return NodeWire(js.authfetchEngine.createEngine(settings, environment))
