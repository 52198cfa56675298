"""The browser transport's Python half: the only module (with the embed's bridge) that touches JS.

Requests travel through the engine (engine.js, the transport's JavaScript half, a real module
file served with the package): one call per request, numbers and strings across, Responses
kept on the JS side. Browser failures become failure codes there and authfetch errors in the
session. This half adds what only the page can tell: its URL, its cookies, its wake-up events,
and the cross-tab primitives (Web Locks, BroadcastChannel, localStorage).

The engine module is imported by the embed, or by PyScript when the page's config lists it
under ``[js_modules.main]`` (``[js_modules.worker]``); a package installed from the wheel
carries it as a file and imports it on first use (``load_engine``).
"""

import json

import js

from .compat import Latch, Signal, monotonic, sleep, spawn
from .errors import NetworkError, UsageError
from .ffi import body_for_js, bytes_from_js, destroy, ffi, nullish

create_proxy, to_js = ffi()

_shared = []
ENGINE_GLOBAL = "authfetchEngine"  # engine.js sets it on globalThis when it is imported
WIRE_IMPORT = 'from "./wire.js"'  # engine.js's one import, pointed at a blob: URL for a wheel
# What fetch() takes as a body and authfetch buffers once: wire.js's bodyKind, told by tag
# (tests/browser/test_core.py checks that the two agree).
NATIVE_BODIES = ("[object ArrayBuffer]", "[object Blob]", "[object File]", "[object FormData]", "[object URLSearchParams]")
ENGINE_CONFIG = (
    '[js_modules.main]\n"<url of authfetch/engine.js>" = "authfetch_engine"\n'
    '[js_modules.worker]\n"<url of authfetch/engine.js>" = "authfetch_engine"'
)


def engine_module():
    """engine.js, as it registered itself on import; a UsageError saying how to load it."""
    module = getattr(js, ENGINE_GLOBAL, None)
    if not module:
        raise UsageError(
            "authfetch's engine.js is not loaded on this page. Add it to the PyScript config "
            "next to the package's files:\n" + ENGINE_CONFIG
        )
    return module


async def load_engine():
    """engine.js: as the page imported it, else from the package's own copy (a wheel install),
    imported as a module from blob: URLs (a page with a Content-Security-Policy lists it under
    js_modules instead, or allows blob: scripts)."""
    module = getattr(js, ENGINE_GLOBAL, None)
    if module:
        return module
    folder = __file__.rsplit("/", 1)[0]
    try:
        with open(folder + "/wire.js") as handle:
            wire_source = handle.read()
        with open(folder + "/engine.js") as handle:
            engine_source = handle.read()
    except OSError:
        engine_module()  # raises the UsageError that says how to load it
    wire_url = _blob_url(wire_source)
    if engine_source.count(WIRE_IMPORT) != 1:
        raise UsageError("authfetch's engine.js does not import " + WIRE_IMPORT + " once: the package is broken")
    engine_url = _blob_url(engine_source.replace(WIRE_IMPORT, 'from "' + wire_url + '"'))
    try:
        await _import(engine_url)
    finally:
        js.URL.revokeObjectURL(engine_url)
        js.URL.revokeObjectURL(wire_url)
    return engine_module()


def _blob_url(source):
    blob = js.Blob.new(to_js([source]), to_js({"type": "text/javascript"}))
    return js.URL.createObjectURL(blob)


async def _import(url):
    """A dynamic import() in this realm: PyScript's js_import on the main thread; in a worker
    (whose js_import runs on the main thread) a small function, as PyScript's own workers do."""
    try:
        from pyscript import RUNNING_IN_WORKER, js_import
    except ImportError:
        engine_module()
    if RUNNING_IN_WORKER:
        await js.Function.new("url", "return import(url)")(url)
    else:
        await js_import(url)


class JsWire:
    """The engine as the session uses it (testing.PassThroughWire has the same methods).

    The engine may still be loading (a package installed from the wheel imports engine.js on
    first use): requests then wait for it, and when it comes it is handed what it must know
    now (the clients' profiles, the latest gate and due time): a snapshot, not a replay of
    commands, since none of those commands concerned a request it holds.
    """

    def __init__(self, engine_js=None, load=None):
        self.engine = None  # the embed's JavaScript sends through it too
        self._profiles = {}  # number -> settings (JSON), for an engine that comes later
        self._gate = None  # the latest gate command, likewise
        self._due_at = None  # the latest due time (ms on the monotonic clock), likewise
        self._tracing = False
        self._listener = None
        self._waiting = 0  # requests waiting for the engine to come
        self._forgotten = []  # clients closed before it came: forgotten once their requests are in
        self._error = None  # why it will not come
        self._arrived = Latch()
        if engine_js is not None:
            self._use(engine_js)
        else:
            spawn(self._load(load))

    async def _load(self, load):
        try:
            self._use(await load())
        except UsageError as error:
            self._error = error
        except Exception as error:  # e.g. a Content-Security-Policy refused the blob: import
            self._error = UsageError(
                f"authfetch could not load its engine.js ({_describe(error)}); import it with the page "
                "(a PyScript js_modules entry, or the one tag), or allow blob: module scripts"
            )
        self._arrived.set()
        if self._forgotten and self.engine is not None:
            await sleep(0)  # the requests that waited go in first (their clients closed meanwhile),
            await sleep(0)  # then those clients' settings go
            for number in self._forgotten:
                self._profiles.pop(number, None)
                self.engine.forget(number)
        self._forgotten = []

    def _use(self, engine_js):
        if self._listener is not None:
            engine_js.listen(self._listener)
        for number, settings in self._profiles.items():
            engine_js.profile(number, settings)
        if self._tracing:
            engine_js.trace(True)
        snapshot = [] if self._gate is None else [self._gate]
        if self._due_at is not None:
            snapshot.append(["due", max(0.0, self._due_at - monotonic() * 1000)])
        # The hot path's function, looked up once (engine.js methods need no ``this``).
        self._submit = engine_js.submit
        self._from_hex_into = engine_module().fromHexInto
        self.engine = engine_js
        if snapshot:  # nothing is held yet: if the engine cannot take it, it opens (broken()), as it says
            problem = str(engine_js.apply(json.dumps(snapshot)))
            if problem:
                print("authfetch: the engine could not take the gate it was handed: " + problem)

    async def _submit_later(self, ident, profile, request, flags):
        self._waiting += 1
        try:
            await self._arrived.wait()
        finally:
            self._waiting -= 1
        if self._error is not None:
            raise self._error
        return await self.submit(ident, profile, request, flags)

    def submit(self, ident, profile, request, flags):
        if self.engine is None:
            return self._submit_later(ident, profile, request, flags)
        body = request.content
        if body is not None:
            if not isinstance(body, str):
                body = body_for_js(body, to_js, self._from_hex_into)
        elif request.native is not None:
            body = request.native
        elif request.stream is not None:
            body = request.stream
        headers = request.headers
        if headers is not None:
            headers = json.dumps(headers.items())
        timeout = request.timeout
        if timeout is not None:
            timeout = int(timeout * 1000)
        return self._submit(ident, profile, request.url, request.method, headers, body, flags, timeout)

    def apply(self, commands):
        if self.engine is None:
            for command in commands:
                if command[0] == "gate":
                    self._gate = command
                elif command[0] == "due":
                    self._due_at = None if command[1] is None else monotonic() * 1000 + command[1]
            return
        problem = str(self.engine.apply(json.dumps(commands)))
        if problem:  # the engine settled what waited and opened (engine.js, broken()): the
            # coordinator must hear it, or it would go on as if the round still held the gate
            raise RuntimeError("the engine could not carry out a decision: " + problem)

    def listen(self, callback):
        self._listener = create_proxy(lambda text: callback(str(text)))  # kept: JS holds it
        if self.engine is not None:
            self.engine.listen(self._listener)

    def close(self):
        """The session is gone: the engine reports to no one, and the proxy it held is freed
        (on Pyodide it kept the session, coordinator and engine alive)."""
        if self.engine is not None:
            self.engine.listen(None)
        destroy(self._listener)
        self._listener = None

    def profile(self, number, settings):
        text = json.dumps(settings)
        self._profiles[number] = text
        if self.engine is not None:
            self.engine.profile(number, text)

    def forget(self, number):
        if self.engine is None:
            self._forgotten.append(number)  # requests it asked for may still wait for the engine
            return
        self._profiles.pop(number, None)
        self.engine.forget(number)

    def cancel(self, ident):
        if self.engine is not None:
            self.engine.cancel(ident)

    def trace(self, on):
        self._tracing = bool(on)
        if self.engine is not None:
            self.engine.trace(self._tracing)

    def pending(self):
        return self._waiting + (int(self.engine.pending()) if self.engine is not None else 0)

    def stats(self):
        stats = json.loads(str(self.engine.stats())) if self.engine is not None else {}
        return {
            "replays": stats.get("replays", 0),
            "recalls": stats.get("recalls", 0),
            "max_held": stats.get("maxHeld", 0),
            "max_in_flight": stats.get("limit"),
        }

    def state(self):
        """What the engine holds now (gate, requests by state, kept answers, profiles)."""
        return json.loads(str(self.engine.state())) if self.engine is not None else {}

    # -- reading a kept answer -------------------------------------------------------------

    # Each reader answers None for an answer no longer kept (models.Response says so).

    def headers(self, kept):
        """The answer's header pairs."""
        text = self.engine.headers(kept)
        return None if nullish(text) else json.loads(str(text))

    def url(self, kept):
        text = self.engine.url(kept)
        return None if nullish(text) else str(text)

    async def text(self, kept):
        try:
            text = await self.engine.text(kept)
        except Exception as error:
            raise NetworkError(f"reading the response failed: {_describe(error)}") from None
        return None if nullish(text) else str(text)

    async def bytes(self, kept):
        try:
            return await bytes_from_js(self.engine, kept)
        except Exception as error:
            raise NetworkError(f"reading the response failed: {_describe(error)}") from None

    async def bounded(self, kept, limit, timeout_ms, keep=False):
        """The body's text if it has at most ``limit`` bytes, else None; NetworkError if reading
        fails or takes longer than ``timeout_ms`` (None: no bound). ``keep``: read a copy, so
        the answer stays whole for the embed's page."""
        try:
            text = await self.engine.bounded(kept, limit, timeout_ms, keep)
        except Exception as error:
            raise NetworkError(f"reading the response failed: {_describe(error)}") from None
        return None if nullish(text) else str(text)


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
        """"" once posted, else why not (a throw could not be caught on MicroPython)."""
        module = getattr(js, ENGINE_GLOBAL, None)
        return str(module.post(self.channel_js, text)) if module else "engine.js is not loaded yet"

    def close(self):
        if self._proxy is None:
            return
        self.channel_js.onmessage = None
        self.channel_js.close()
        destroy(self._proxy)
        self._proxy = None


class BrowserTransport:
    def __init__(self, engine=None):
        # engine: one already at work (the one tag made it and sent through it while Python
        # booted): the first session takes it over, with what it holds and has reported.
        self._engine = engine
        self._wake_callbacks = []
        self._wake_proxy = None

    def on_wake(self, callback):
        """Call ``callback()`` when the page becomes visible again or the browser goes online:
        timers sleep in background tabs and on suspended laptops, these events do not."""
        if callback not in self._wake_callbacks:
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

    def wire(self, *, max_in_flight, paced_origin):
        """A new engine for one session: its queue, slots and gate are that session's."""
        if self._engine is not None:
            engine, self._engine = self._engine, None
            return JsWire(engine)
        settings = json.dumps({"maxInFlight": max_in_flight, "pacedOrigin": paced_origin})
        module = getattr(js, ENGINE_GLOBAL, None)
        if module:
            return JsWire(module.createEngine(settings))

        async def load():
            return (await load_engine()).createEngine(settings)

        return JsWire(load=load)

    def body_kind(self, body):
        """"stream" or "native" for a browser body (ReadableStream; FormData, Blob...), else None
        (a plain JS object is no body: the client refuses it rather than send "[object Object]").
        Told here, not by engine.js's bodyKind: a wheel's client may ask before the engine is in."""
        if "JsProxy" not in type(body).__name__:
            return None
        tag = str(js.Object.prototype.toString.call(body))  # "[object FormData]"
        if tag == "[object ReadableStream]":
            return "stream"
        return "native" if tag in NATIVE_BODIES or js.ArrayBuffer.isView(body) else None

    def read_cookie(self, name):
        """A cookie the page's scripts can read (in a worker, PyScript lends the page's document),
        read by the engine's guarded helper; None before engine.js is in (nothing needs one then)."""
        module = getattr(js, ENGINE_GLOBAL, None)
        value = module.cookie(name) if module else None
        return None if nullish(value) else str(value)

    def cookies_unseen(self):
        """None where the page's cookies can be read; else why not. A PyScript worker has the
        page's document only on a cross-origin-isolated page ("isolation"), in a browser that
        gives workers SharedArrayBuffer (WebKitGTK 2.50 does not: "shared-memory")."""
        if getattr(js, "document", None) is not None:
            return None
        if getattr(js, "crossOriginIsolated", False) and getattr(js, "SharedArrayBuffer", None) is None:
            return "shared-memory"
        return "isolation"

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
        grant_js = create_proxy(on_grant)
        request_js = js.navigator.locks.request(name, options_js, grant_js)

        async def watch():
            try:
                await request_js  # settles once the lock is released, or was never granted
            except Exception as error:  # the bounded wait ran out (AbortError/TimeoutError)
                state["error"] = _describe(error)
            destroy(grant_js)  # called once at the grant, if at all: now it may go
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

    # localStorage through engine.js's guarded helper (a worker has none of its own: the page's,
    # if PyScript lends it): blocked storage throws even on reading window.localStorage.

    def shared_ready(self):
        """Whether the shared marker can be read yet (engine.js is in: a wheel imports it late)."""
        return bool(getattr(js, ENGINE_GLOBAL, None))

    def shared_get(self, key):
        """localStorage's text for ``key``, or None (also where storage is blocked)."""
        page = _page_window()
        module = getattr(js, ENGINE_GLOBAL, None)
        if page is None or not module:
            return None
        value = module.storage(page, "get", key)
        return None if nullish(value) else str(value)

    def shared_set(self, key, value):
        """"" once stored, else why not (blocked, full)."""
        page = _page_window()
        module = getattr(js, ENGINE_GLOBAL, None)
        if page is None or not module:
            return "no localStorage here"
        return str(module.storage(page, "set", key, value))

    # sessionStorage, for a refresh token the page opted to keep across reloads: read at start,
    # before engine.js may be in, so straight from the page (a blocked store throws: caught).

    def session_get(self, key):
        """sessionStorage's text for ``key``, or None (none, or no storage here)."""
        try:
            value = _page_window().sessionStorage.getItem(key)
        except Exception:
            return None
        return None if nullish(value) else str(value)

    def session_set(self, key, value):
        """"" once stored (removed for None), else why not."""
        try:
            store = _page_window().sessionStorage
            if value is None:
                store.removeItem(key)
            else:
                store.setItem(key, value)
            return ""
        except Exception as error:
            return _describe(error)


def _describe(error):
    for attribute in ("message", "name"):
        value = getattr(error, attribute, None)
        if value:
            return str(value)
    args = getattr(error, "args", None)
    if args and len(args) >= 3:  # MicroPython's JsException: (error, name, message)
        return f"{args[1]}: {args[2]}"
    return str(error)
