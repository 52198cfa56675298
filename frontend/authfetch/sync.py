"""Synchronous ``requests`` and ``urllib.request`` code keeps the session too (Pyodide).

    await authfetch.sync.load("/vendor/wheels/")   # requests and pyodide-http, from your server
    authfetch.sync.install(api)
    requests.get("/api/v1/users/profile").json()   # carries the session; a 401 is renewed once

pyodide-http makes ``requests`` and ``urllib.request`` work in the browser by sending with its
own synchronous XMLHttpRequest. ``install`` has it send through ``api`` instead: the same
engine, coordinator and session as ``await api.get(...)``. So sync and async code share one
credential: a 401 joins (or adopts) the async refresh, this tab's or another's, or starts the
one refresh under the same cross-tab lock; the request is replayed once; "session-expired"
fires once; a session that ended raises SessionExpired from the sync call.

A synchronous call waits for the asynchronous client with JavaScript Promise Integration
(``pyodide.ffi.run_sync``): the interpreter suspends until the answer comes, the browser's
event loop goes on, the page does not freeze (not even on the main thread, unlike pyodide-http's
synchronous XMLHttpRequest). Chromium has it; where the interpreter cannot suspend (a browser
without it, or Python called synchronously from a JS event handler), the call raises a
UsageError saying so instead of sending without the session.
"""

from .compat import MICROPYTHON
from .errors import UsageError
from .ffi import can_run_sync, load_wheels, run_sync

WHEELS_INDEX = "index.json"  # the wheel list the server keeps beside the wheels (make deps writes it)


async def load(base_url):
    """Load ``requests``, ``urllib3``, ``pyodide-http`` (and their pure-Python dependencies)
    from the wheels served at ``base_url``: no CDN, no index on the internet."""
    _pyodide_only()
    return await load_wheels(base_url, WHEELS_INDEX)


def install(api):
    """Send every ``requests`` and ``urllib.request`` call through ``api`` (an AuthClient)."""
    _pyodide_only()
    try:
        import pyodide_http
        from pyodide_http import _core, _requests, _urllib
    except ImportError as error:
        raise UsageError(
            f"authfetch.sync.install needs pyodide-http and requests in this interpreter ({error}); "
            "load them first: await authfetch.sync.load('<url of the served wheels>/')"
        ) from None
    pyodide_http.patch_all()
    send = _sender(api, _core.Response)
    _requests.send = send  # the names pyodide-http's adapters call
    _urllib.send = send
    return send


def _pyodide_only():
    if MICROPYTHON:
        raise UsageError(
            "authfetch.sync needs Pyodide: MicroPython has no requests or urllib.request; "
            "use await api.get(...) there"
        )


def _sender(api, response_type):
    def send(request, stream=False):
        """pyodide-http's send(), through ``api``: its Request in, its Response out."""
        if not can_run_sync():
            raise UsageError(
                f"{request.method} {request.url}: this interpreter cannot suspend here to wait for "
                "the session (no JavaScript Promise Integration, or Python called synchronously from "
                "a JS event handler); call it from PyScript code or an asyncio task, or use await api.get"
            )
        body = request.body
        once = False
        if body is not None and not isinstance(body, (str, bytes, bytearray)):
            body, once = b"".join(_chunks(body)), True  # a generator or file: sent once, never replayed
        timeout = _seconds(request.timeout)
        call = api.fetch(request.url, method=request.method, headers=_plain(request.headers), body=body, timeout=timeout, once=once)
        response = run_sync(call)
        body = run_sync(response.bytes())
        return response_type(status_code=response.status, headers=dict(response.headers.items()), body=body)

    return send


def _seconds(timeout):
    """requests' timeout: seconds, or (connect, read), or nothing; one bound for the whole call."""
    if isinstance(timeout, (tuple, list)):
        parts = [part for part in timeout if part]
        return sum(parts) if parts else None
    return timeout or None


def _plain(headers):
    """requests and urllib hand over header values as str or bytes."""
    out = {}
    for name, value in (headers or {}).items():
        out[str(name)] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return out


def _chunks(body):
    read = getattr(body, "read", None)
    if read is not None:
        yield _bytes(read())
        return
    for chunk in body:
        yield _bytes(chunk)


def _bytes(chunk):
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise UsageError(f"a request body chunk must be bytes or str, got {type(chunk).__name__}")

