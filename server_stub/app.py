"""Assembles the stub: API, test controls, CSRF and request accounting, and the app's static files."""

import asyncio
import mimetypes
import pathlib

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .api import Api
from .controls import Clock, Faults, Stats
from .http import (
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    REFRESH_PATH,
    DROP_HEADER,
    ApiError,
    CsrfTokens,
    DropConnection,
    envelope,
    read_json_object,
)
from .tokens import AccessTokens, RefreshStore

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Establishing a session cannot carry a CSRF token yet; Sec-Fetch-Site still guards it.
CSRF_EXEMPT = {"/api/v1/users/login"}
VENDOR = {
    "pyscript": "node_modules/@pyscript/core/dist",
    "pyodide": "node_modules/pyodide",
    "micropython": "node_modules/@micropython/micropython-webassembly-pyscript",
    "wheels": ".stamps/wheels",  # what authfetch.sync loads into Pyodide (make deps fetches them)
}

# Module scripts and WebAssembly need their real types, whatever the host's mime table says.
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/toml", ".toml")


class State:
    def __init__(self, settings):
        self.settings = settings
        self.clock = Clock()
        self.stats = Stats()
        self.faults = Faults()
        self.csrf = CsrfTokens()
        self.access = AccessTokens(ttl=settings.access_ttl, clock=self.clock)
        self.refresh = RefreshStore(
            idle=settings.refresh_idle,
            absolute=settings.refresh_absolute,
            grace=settings.grace,
            clock=self.clock,
            stats=self.stats,
        )


class Guard:
    """Counts API requests and enforces CSRF on unsafe methods, before any route runs.

    Also the outermost layer: a handler answering ``drop_response()`` gets its connection closed
    with no response (nothing in ASGI says "hang up"; uvicorn's ``send`` belongs to the cycle that
    owns the transport).
    """

    def __init__(self, app, state):
        self.app = app
        self.s = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            if scope["type"] == "http" and self.s.settings.test_controls:
                # What pages loaded (e.g. the wheel, not the source), seen by the server whatever the browser
                # or the worker that asked: not every engine's driver can watch a page's requests.
                self.s.stats.served[scope["path"]] += 1
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self._account(scope, headers)
        rejection = self._csrf_rejection(scope, headers)
        if rejection is not None:
            return await envelope(403, None, rejection)(scope, receive, send)
        dropped = []

        async def send_or_drop(message):
            if dropped:
                return
            if message["type"] == "http.response.start" and any(
                name == DROP_HEADER.encode() for name, _ in message.get("headers", [])
            ):
                dropped.append(True)
                transport = getattr(getattr(send, "__self__", None), "transport", None)
                if transport is not None:
                    transport.close()
                    # Let uvicorn see the connection lost, so it does not try to answer a 500.
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                return
            await send(message)

        await self.app(scope, receive, send_or_drop)
        if dropped and getattr(getattr(send, "__self__", None), "transport", None) is None:
            raise DropConnection("connection dropped by a test fault")  # TestClient has no socket

    def _account(self, scope, headers):
        stats = self.s.stats
        stats.requests[f"{scope['method']} {scope['path']}"] += 1
        for name, header in (("cookie", "cookie"), ("authorization", "authorization"), ("csrf", CSRF_HEADER)):
            if header in headers:
                stats.carried[name] += 1

    def _csrf_rejection(self, scope, headers):
        if scope["method"] in SAFE_METHODS:
            return None
        if headers.get("sec-fetch-site") == "cross-site":
            return "cross-site request refused"
        if not self.s.settings.csrf or scope["path"] in CSRF_EXEMPT:
            return None
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        if scope["path"] == REFRESH_PATH and not cookies.get(REFRESH_COOKIE):
            # No session to renew: the route answers 401 "no_refresh_token", so a first visit
            # reads as signed out, not as an attack.
            return None
        if not self.s.csrf.valid(cookies.get(CSRF_COOKIE), headers.get(CSRF_HEADER)):
            return "missing or invalid X-CSRF-Token"
        return None


ISOLATION_HEADERS = [
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"require-corp"),
    (b"cross-origin-resource-policy", b"same-site"),
]


class Isolation:
    """Adds the cross-origin isolation headers to every response.

    A PyScript worker reaches the page's ``window`` and ``document`` through SharedArrayBuffer and
    Atomics, which browsers enable only on cross-origin-isolated pages; authfetch in a worker needs
    the page's document to read the CSRF cookie. ``same-site`` resource policy lets the test's
    second origin (another port of the same host) serve resources too.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_isolated(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + ISOLATION_HEADERS)
            await send(message)

        await self.app(scope, receive, send_isolated)


class Csp:
    """Adds the configured Content-Security-Policy to every HTML response (the pages)."""

    def __init__(self, app, policy):
        self.app = app
        self.header = (b"content-security-policy", policy.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_policy(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    message = dict(message, headers=headers + [self.header])
            await send(message)

        await self.app(scope, receive, send_with_policy)


def control_routes(state):
    async def expire(request):
        state.access.expire_all()
        return envelope(200, {"min_serial": state.access.min_serial}, "access tokens expired")

    async def faults(request):
        payload = await read_json_object(request)
        try:
            items = Faults.validate(payload.get("refresh", []))
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        state.faults.refresh.extend(items)
        return envelope(200, {"queued": len(state.faults.refresh)}, "faults queued")

    async def clock(request):
        payload = await read_json_object(request)
        offset = payload.get("offset_s")
        if not isinstance(offset, (int, float)) or isinstance(offset, bool):
            raise ApiError(400, "offset_s must be a number of seconds")
        state.clock.offset_s = float(offset)
        return envelope(200, {"offset_s": state.clock.offset_s}, "clock shifted")

    async def stats(request):
        return envelope(200, state.stats.snapshot(), "stats")

    async def reset(request):
        state.stats.reset()
        state.faults.refresh.clear()
        state.clock.offset_s = 0.0
        return envelope(200, {}, "reset")

    return [
        # The browser tests' harness page, same-origin with the API like the demo.
        Mount("/__stub__/harness", app=StaticFiles(directory=ROOT / "tests/browser/harness", html=True, check_dir=False)),
        # The benchmark's page for the JavaScript contestants, and their npm packages.
        Mount("/__stub__/bench/axios", app=StaticFiles(directory=ROOT / "node_modules/axios/dist", check_dir=False)),
        Mount(
            "/__stub__/bench/axios-auth-refresh",
            app=StaticFiles(directory=ROOT / "node_modules/axios-auth-refresh/dist", check_dir=False),
        ),
        Mount("/__stub__/bench", app=StaticFiles(directory=ROOT / "bench/pages", html=True, check_dir=False)),
        Route("/__stub__/expire", expire, methods=["POST"]),
        Route("/__stub__/faults", faults, methods=["POST"]),
        Route("/__stub__/clock", clock, methods=["POST"]),
        Route("/__stub__/stats", stats, methods=["GET"]),
        Route("/__stub__/reset", reset, methods=["POST"]),
    ]


def pyodide_extra_routes(root):
    """micropip for PyScript's packages (scripts/fetch_wheels.py): the lock naming it, and it."""
    extra = root / ".stamps/pyodide-extra"
    if not (extra / "pyodide-lock.json").exists():
        return []
    routes = []
    for path in sorted(extra.iterdir()):
        for prefix in ("/vendor/pyodide", "/static/authfetch/pyodide"):
            routes.append(Route(f"{prefix}/{path.name}", (lambda p: lambda request: FileResponse(p))(path)))
    return routes


def static_routes(root, docs_dir=None):
    routes = [Route("/", lambda request: FileResponse(root / "index.html"))]
    routes += pyodide_extra_routes(root)
    # make dist's output: the wheel, the config snippets, the one-tag folder.
    routes.append(Mount("/dist", app=StaticFiles(directory=root / "dist", html=True, check_dir=False)))
    # The documentation site, as make docs builds it (mkdocs.yml); /docs redirects to /docs/.
    site = pathlib.Path(docs_dir) if docs_dir else root / "site"
    routes.append(Mount("/docs", app=StaticFiles(directory=site, html=True, check_dir=False)))
    for name in ("index.html", "pyscript.toml", "pyscript.py.toml"):
        routes.append(Route(f"/{name}", (lambda path: lambda request: FileResponse(path))(root / name)))
    routes.append(Mount("/frontend", app=StaticFiles(directory=root / "frontend", html=True, check_dir=False)))
    for prefix, folder in VENDOR.items():
        routes.append(Mount(f"/vendor/{prefix}", app=StaticFiles(directory=root / folder, check_dir=False)))
    # The one-tag embed, laid out as a page author copies it: the loader, the package and the
    # runtime side by side, so every URL resolves relative to authfetch.js.
    embed = "/static/authfetch"
    routes.append(Route(f"{embed}/authfetch.js", lambda request: FileResponse(root / "frontend/authfetch.js")))
    routes.append(Mount(f"{embed}/authfetch", app=StaticFiles(directory=root / "frontend/authfetch", check_dir=False)))
    for prefix, folder in VENDOR.items():
        routes.append(Mount(f"{embed}/{prefix}", app=StaticFiles(directory=root / folder, check_dir=False)))
    return routes


async def _api_error(request, error):
    return envelope(error.status, None, error.message, headers=error.headers)


async def _http_error(request, error):
    return envelope(error.status_code, None, error.detail or "error", headers=getattr(error, "headers", None))


async def _server_error(request, error):
    return envelope(500, None, "internal error")


def build_app(settings):
    state = State(settings)
    root = pathlib.Path(settings.app_root) if settings.app_root else ROOT
    routes = Api(state).routes()
    if settings.test_controls:
        routes += control_routes(state)
    routes += static_routes(root, settings.docs_dir)
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, 500: _server_error},
    )
    if settings.csp:
        app = Csp(app, settings.csp)
    if settings.isolation:
        app = Isolation(app)  # inside the Guard, whose connection drop needs uvicorn's own send
    outer = Guard(app, state)
    if settings.cors_origins:
        # Outermost, so even the Guard's 403 carries CORS headers and the page can read it.
        outer = CORSMiddleware(
            outer,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["*"],
        )
    outer.state = state  # the tests read counters straight from here
    return outer
