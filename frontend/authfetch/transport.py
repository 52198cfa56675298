"""The browser transport: the only module that touches JS objects.

Requests go out through the browser's own ``fetch`` (called with an options object built by
``to_js``, because ``pyscript.fetch`` turns options into JSON and so cannot carry an abort
signal or a binary body). Browser failures become authfetch errors here and nowhere else.
"""

import js
from pyscript.ffi import create_proxy, to_js

from .compat import MICROPYTHON, Signal, spawn
from .errors import NetworkError
from .models import Headers, Response

_shared = []
# The browser's own fetch, taken before anything (the embed's data-patch-fetch) can wrap it, and
# bound to the global object (a detached fetch is an "Illegal invocation").
_native_fetch_js = js.fetch.bind(getattr(js, "window", None) or js.self)


def browser_transport():
    """The page's transport, made once (clients sharing it share refresh state per refresh URL)."""
    if not _shared:
        _shared.append(BrowserTransport())
    return _shared[0]


def _js_type(value):
    """"FormData", "Blob"... for a JS object, None for a Python value."""
    if "JsProxy" not in type(value).__name__:
        return None
    tag = js.Object.prototype.toString.call(value)  # "[object FormData]"
    return tag[8:-1]


def _to_bytes(js_uint8):
    if MICROPYTHON:
        # No .to_py()/.to_bytes() on MicroPython: copy through a bytearray the JS side fills.
        out = bytearray(js_uint8.length)
        for i in range(js_uint8.length):
            out[i] = js_uint8[i]
        return bytes(out)
    return js_uint8.to_bytes()


def _js_body(content):
    if isinstance(content, str):
        return content
    if MICROPYTHON:
        array = js.Uint8Array.new(len(content))
        for i in range(len(content)):
            array[i] = content[i]
        return array
    return to_js(content)


class JsAbort:
    def __init__(self):
        self.controller_js = js.AbortController.new()
        self.aborted = False

    def abort(self):
        self.aborted = True
        self.controller_js.abort()


class JsChannel:
    """A BroadcastChannel carrying strings (MicroPython cannot post Python objects)."""

    def __init__(self, name, on_message):
        self.channel_js = js.BroadcastChannel.new(name)

        def received(event):
            try:
                on_message(str(event.data))
            except Exception as error:  # a bad message must not break the page
                print("authfetch: cross-tab message failed: " + repr(error))

        self._proxy = create_proxy(received)
        self.channel_js.onmessage = self._proxy

    def post(self, text):
        self.channel_js.postMessage(text)

    def close(self):
        self.channel_js.close()


class BrowserTransport:
    def __init__(self):
        self._wake_callbacks = []
        self._wake_proxy = None

    def on_wake(self, callback):
        """Call ``callback()`` when the page becomes visible again or the browser goes online:
        timers sleep in background tabs and on suspended laptops, these events do not."""
        self._wake_callbacks.append(callback)
        if self._wake_proxy is not None:
            return
        self._wake_proxy = create_proxy(self._woke)
        document = getattr(js, "document", None)
        if document is not None:
            document.addEventListener("visibilitychange", self._wake_proxy)
        # Called on the global object itself: a detached addEventListener is an "Illegal
        # invocation", thrown synchronously, which MicroPython cannot catch.
        scope = getattr(js, "window", None) or getattr(js, "self", None)
        if scope is not None:
            scope.addEventListener("online", self._wake_proxy)

    def _woke(self, event=None):
        document = getattr(js, "document", None)
        if document is not None and str(document.visibilityState) != "visible":
            return
        for callback in list(self._wake_callbacks):
            callback()

    def page_url(self):
        return str(js.location.href)

    # -- cross-tab primitives (used by tabs.py) ---------------------------------------------------

    def tabs_available(self):
        navigator = getattr(js, "navigator", None)
        return bool(
            navigator is not None
            and getattr(navigator, "locks", None)
            and getattr(js, "BroadcastChannel", None)
            and getattr(js.Promise, "withResolvers", None)
        )

    async def acquire_lock(self, name, timeout):
        """Take the Web Lock ``name``, waiting at most ``timeout`` s; returns ``release()``.

        The lock callback only hands back a promise we resolve later: no Python awaits inside
        it (a Web Locks callback that awaits asyncio can stall MicroPython). If this tab dies
        the browser releases the lock itself.
        """
        holder_js = js.Promise.withResolvers()
        granted = Signal()
        state = {}

        def on_grant(lock=None):
            state["granted"] = True
            granted.set()
            return holder_js.promise

        options_js = to_js({"signal": js.AbortSignal.timeout(int(timeout * 1000))})
        request_js = js.navigator.locks.request(name, options_js, create_proxy(on_grant))

        async def watch():
            try:
                await request_js
            except Exception as error:  # the bounded wait ran out (AbortError/TimeoutError)
                state["error"] = _describe(error)
            granted.set()

        spawn(watch())
        await granted.wait()
        if not state.get("granted"):
            raise NetworkError(f"the cross-tab refresh lock was not granted within {timeout} s ({state.get('error')})")
        released = []

        def release():
            if not released:
                released.append(True)
                holder_js.resolve(None)

        return release

    def open_channel(self, name, on_message):
        return JsChannel(name, on_message)

    def shared_get(self, key):
        storage = getattr(js, "localStorage", None)
        value = storage.getItem(key) if storage is not None else None
        return None if value is None else str(value)

    def shared_set(self, key, value):
        storage = getattr(js, "localStorage", None)
        if storage is not None:
            storage.setItem(key, value)

    def read_cookie(self, name):
        document = getattr(js, "document", None)
        if document is None:  # a worker has no cookies to read
            return None
        for part in str(document.cookie).split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def abort_handle(self):
        return JsAbort()

    def body_kind(self, body):
        kind = _js_type(body)
        if kind == "ReadableStream":
            return "stream"
        if kind is not None:
            return "native"  # FormData, Blob, URLSearchParams, ArrayBuffer, typed arrays...
        return None

    async def send(self, request, *, headers, credentials, abort=None):
        try:
            if request.native is not None:
                await self._buffer(request, headers)
            init = {
                "method": request.method,
                "headers": dict(headers.items()),
                "credentials": "include" if credentials else "same-origin",
            }
            if request.content is not None:
                init["body"] = _js_body(request.content)
            elif request.stream is not None:
                init["body"] = request.stream
                init["duplex"] = "half"  # Chromium needs it to send a stream
            if abort is not None:
                init["signal"] = abort.controller_js.signal
            response_js = await _native_fetch_js(request.url, to_js(init))
        except Exception as error:  # a rejected fetch: network failure, CORS, or our abort
            hint = ""
            if request.stream is not None:
                hint = " (browsers send a ReadableStream body only over HTTP/2 or later)"
            raise NetworkError(
                f"{request.method} {request.url} failed: {_describe(error)}{hint}", request=request, cause=error
            ) from None
        pairs = []
        for pair in getattr(js.Array, "from")(response_js.headers.entries()):
            pairs.append((str(pair[0]), str(pair[1])))

        async def reader():
            try:
                buffer = await response_js.arrayBuffer()
            except Exception as error:
                raise NetworkError(f"reading {request.url} failed: {_describe(error)}", request=request) from None
            return _to_bytes(js.Uint8Array.new(buffer))

        return Response(
            int(response_js.status),
            headers=Headers(pairs),
            url=str(response_js.url) or request.url,
            reader=reader,
            request=request,
            native=response_js,
        )

    async def _buffer(self, request, headers):
        """Serialise a FormData/Blob/URLSearchParams once, so the replay carries the same bytes
        (a FormData sent twice would get a new multipart boundary)."""
        wrapped_js = js.Response.new(request.native)
        content_type = wrapped_js.headers.get("content-type")
        request.content = _to_bytes(js.Uint8Array.new(await wrapped_js.arrayBuffer()))
        request.native = None
        if content_type and "content-type" not in request.headers:
            request.headers.set("Content-Type", str(content_type))
            headers.set("Content-Type", str(content_type))


def _describe(error):
    for attribute in ("message", "name"):
        value = getattr(error, attribute, None)
        if value:
            return str(value)
    args = getattr(error, "args", None)
    if args and len(args) >= 3:  # MicroPython's JsException: (error, name, message)
        return f"{args[1]}: {args[2]}"
    return str(error)
