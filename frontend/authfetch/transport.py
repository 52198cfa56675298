"""The browser transport: the only module that touches JS objects.

Requests go out through the browser's own ``fetch`` (called with an options object built by
``to_js``, because ``pyscript.fetch`` turns options into JSON and so cannot carry an abort
signal or a binary body). Browser failures become authfetch errors here and nowhere else.
"""

import js
from pyscript.ffi import to_js

from .compat import MICROPYTHON
from .errors import NetworkError
from .models import Headers, Response

NATIVE_BODIES = ("FormData", "Blob", "File", "URLSearchParams")

_shared = []


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


class BrowserTransport:
    def page_url(self):
        return str(js.location.href)

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
        if kind in NATIVE_BODIES:
            return "native"
        if kind == "ReadableStream":
            return "stream"
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
            response_js = await js.fetch(request.url, to_js(init))
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
