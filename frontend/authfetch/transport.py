"""The browser transport: the only module that touches JS objects.

Requests go out through the browser's own ``fetch`` (called with an options object built by
``to_js``, because ``pyscript.fetch`` turns options into JSON and so cannot carry an abort
signal or a binary body). Browser failures become authfetch errors here and nowhere else.
"""

import binascii
import json

import js
from pyscript.ffi import create_proxy, to_js

from .compat import MICROPYTHON, Signal, spawn
from .errors import NetworkError
from .models import Headers, Response

_shared = []

# Responses stay on the JS side, in this keeper, and Python sees only numbers and strings.
# MicroPython 1.28 gives two Python proxies for one JS object the same reference slot, and when
# one is garbage-collected the slot is freed under the other: a Response handed back to JS then
# arrives as `undefined`. Values (numbers, strings) cross safely. The keeper also takes the
# browser's own fetch before anything (the embed's data-patch-fetch) wraps it.
KEEPER_SOURCE = """
const fetchNative = globalThis.fetch.bind(globalThis);
const kept = new Map();
let last = 0;
const MAX_AGE_MS = 120000;
const base64 = (buffer) => {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
  return btoa(text);
};
return {
  fetch(url, init) {
    return fetchNative(url, init).then((response) => {
      const now = Date.now();
      for (const [id, entry] of kept) { if (now - entry.at < MAX_AGE_MS) break; kept.delete(id); }
      kept.set(++last, { response, at: now });
      return JSON.stringify([last, response.status, response.url, [...response.headers]]);
    });
  },
  body(id) {
    const entry = kept.get(id);
    if (!entry) return Promise.reject(new Error(`response ${id} is no longer kept`));
    return entry.response.clone().arrayBuffer().then(base64);
  },
  buffer(body) {
    const wrapped = new Response(body);
    return wrapped.arrayBuffer().then((buffer) => JSON.stringify([wrapped.headers.get("content-type"), base64(buffer)]));
  },
  take(id) { const entry = kept.get(id); kept.delete(id); return entry ? entry.response : undefined; },
  drop(id) { kept.delete(id); },
};
"""


HTTP1_CONNECTIONS = 6  # what Chromium, Firefox and Safari open per origin over HTTP/1.x
MULTIPLEXED_STREAMS = 100  # HTTP/2 and 3: the concurrent streams servers commonly allow

KEEPER_NAME = "authfetchKeeper"  # on globalThis; the embed's JS side takes responses from it


def _keeper():
    """The keeper, looked up afresh for each use: a proxy kept in Python could be invalidated."""
    keeper_js = getattr(js, KEEPER_NAME, None)
    if not keeper_js:
        setattr(js, KEEPER_NAME, js.Function.new(KEEPER_SOURCE)())
        keeper_js = getattr(js, KEEPER_NAME)
    return keeper_js


def browser_transport():
    """The page's transport, made once (clients sharing it share refresh state per refresh URL)."""
    if not _shared:
        _shared.append(BrowserTransport())
    return _shared[0]


_page_cache = []


def _page_window():
    """The page's ``window``: ``js`` on the main thread; in a PyScript worker, the main thread's
    window as PyScript proxies it (synchronous calls over SharedArrayBuffer, so only on a
    cross-origin-isolated page); None in a worker without that."""
    if not _page_cache:
        if getattr(js, "window", None) is not None:
            _page_cache.append(js)
        else:
            try:
                from pyscript import window

                window.location  # noqa: B018 -- PyScript's stand-in raises here when isolation is missing
                _page_cache.append(window)
            except Exception:
                _page_cache.append(None)
    return _page_cache[0]


def _nullish(value):
    """JS null/undefined: None on MicroPython, but Pyodide turns null into a JsNull object."""
    return value is None or type(value).__name__ == "JsNull"


def _js_type(value):
    """"FormData", "Blob"... for a JS object, None for a Python value."""
    if "JsProxy" not in type(value).__name__:
        return None
    tag = js.Object.prototype.toString.call(value)  # "[object FormData]"
    return tag[8:-1]


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
        _keeper()
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

    def off_wake(self, callback):
        if callback in self._wake_callbacks:
            self._wake_callbacks.remove(callback)

    def _woke(self, event=None):
        document = getattr(js, "document", None)
        if document is not None and str(document.visibilityState) != "visible":
            return
        for callback in list(self._wake_callbacks):
            callback()

    def page_url(self):
        """Where page-relative URLs resolve: the page's address, also from a worker (whose own
        location is a ``blob:`` URL); a worker that cannot see the page uses its origin."""
        page = _page_window()
        if page is None:
            return str(js.location.origin) + "/"
        return str(page.location.href)

    def connection_limit(self, origin):
        """How many requests to hand the browser at once for ``origin`` (max_in_flight="auto").

        Over HTTP/1.x the browser opens six connections and queues the rest where nothing can
        recall them, so authfetch keeps its own queue that deep; HTTP/2 and 3 multiplex, so the
        limit is a server's usual stream count. The protocol comes from Resource Timing's
        ``nextHopProtocol`` (the page's navigation, or an earlier response from ``origin``);
        None while no entry tells (another origin without Timing-Allow-Origin, or no answer yet).
        """
        protocol = _next_hop_protocol(origin)
        if not protocol:
            return None
        if protocol.startswith("h2") or protocol.startswith("h3"):
            return MULTIPLEXED_STREAMS
        return HTTP1_CONNECTIONS

    def discard(self, response):
        """Free a response nobody will read (a recalled request's late answer)."""
        _keeper().drop(response.native)

    def cookies_readable(self):
        """False in a PyScript worker on a page that is not cross-origin isolated: no document."""
        return getattr(js, "document", None) is not None

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

    def _storage(self):
        page = _page_window()  # a worker has no localStorage of its own: the page's, if reachable
        return getattr(page, "localStorage", None) if page is not None else None

    def shared_get(self, key):
        storage = self._storage()
        value = storage.getItem(key) if storage is not None else None
        return None if _nullish(value) else str(value)

    def shared_set(self, key, value):
        storage = self._storage()
        if storage is not None:
            storage.setItem(key, value)

    def read_cookie(self, name):
        # In a worker PyScript sets js.document to the page's document (when isolated).
        document = getattr(js, "document", None)
        if document is None:
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
            answer = json.loads(str(await _keeper().fetch(request.url, to_js(init))))
        except Exception as error:  # a rejected fetch: network failure, CORS, or our abort
            hint = ""
            if request.stream is not None:
                hint = " (browsers send a ReadableStream body only over HTTP/2 or later)"
            raise NetworkError(
                f"{request.method} {request.url} failed: {_describe(error)}{hint}", request=request, cause=error
            ) from None
        ident, status, url, pairs = answer

        async def reader():
            try:
                encoded = str(await _keeper().body(ident))
            except Exception as error:
                raise NetworkError(f"reading {request.url} failed: {_describe(error)}", request=request) from None
            return binascii.a2b_base64(encoded.encode())

        # native: the keeper's number for the browser's Response (the embed hands that to JS).
        return Response(status, headers=Headers(pairs), url=url or request.url, reader=reader, request=request, native=ident)

    async def _buffer(self, request, headers):
        """Serialise a FormData/Blob/URLSearchParams once, so the replay carries the same bytes
        (a FormData sent twice would get a new multipart boundary)."""
        content_type, encoded = json.loads(str(await _keeper().buffer(request.native)))
        request.content = binascii.a2b_base64(encoded.encode())
        request.native = None
        if content_type and "content-type" not in request.headers:
            request.headers.set("Content-Type", str(content_type))
            headers.set("Content-Type", str(content_type))


def _next_hop_protocol(origin):
    """"http/1.1", "h2", "h3"... for the latest timing entry of ``origin``; "" if none says."""
    try:
        scopes = [js]
        page = _page_window()
        if page is not None and page is not js:
            scopes.append(page)  # a worker: the page's navigation entry lives on the main thread
        for scope in scopes:
            performance = scope.performance
            for kind in ("resource", "navigation"):
                entries = performance.getEntriesByType(kind)
                for i in range(int(entries.length) - 1, -1, -1):
                    entry = entries[i]
                    name = str(entry.name)
                    if name == origin or name.startswith(origin + "/"):
                        protocol = str(entry.nextHopProtocol or "")
                        if protocol:
                            return protocol
    except Exception as error:  # Resource Timing missing or refused: the protocol stays unknown
        print("authfetch: could not read nextHopProtocol: " + repr(error))
    return ""


def _describe(error):
    for attribute in ("message", "name"):
        value = getattr(error, attribute, None)
        if value:
            return str(value)
    args = getattr(error, "args", None)
    if args and len(args) >= 3:  # MicroPython's JsException: (error, name, message)
        return f"{args[1]}: {args[2]}"
    return str(error)
