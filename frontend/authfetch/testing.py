"""A fake transport for tests: a handler callable plays the server (like httpx.MockTransport).

    def handler(sent):
        return reply(200, json={"ok": True})
    api = AuthClient("https://app.test/api", refresh_url="/api/refresh", transport=FakeTransport(handler))

The handler may be async. Raising NetworkFailure (or anything) from it is a network error.
``FakeBrowser`` lets several transports play tabs of one browser (locks, channels, storage).
The fake keeps a cookie jar (``cookies``) that pages could read, and every request it saw
(``sent``), so tests count what reached the "server".

There is one engine, engine.js. On CPython each session's wire is a PassThroughWire: every
submit goes straight to the handler, with no queue, gate or replay (those are the engine's,
tested on engine.js itself: tests/engine, and the portable suite under MicroPython and
Pyodide, whose ``wire_factory`` wraps the real engine). A test plays the engine's reports with
``wire.report(...)`` and reads the commands the session sent in ``wire.applied``.
"""

import json as _json

from .compat import Signal, call_later, cancel, spawn
from .config import CREDENTIALED
from .errors import NetworkError
from .models import Headers

DEFAULT_PAGE = "https://app.test/"


class NetworkFailure(Exception):
    pass


class FakeStream:
    """Stands for a browser ReadableStream body: it can be sent only once."""

    def __init__(self, data):
        self.data = data


class Sent:
    """One request as the fake server received it."""

    def __init__(self, method, url, headers, body, credentials):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.credentials = credentials

    def json(self):
        return _json.loads(self.body)

    def __repr__(self):
        return f"<Sent {self.method} {self.url}>"


class FakeAbort:
    """Stands for an AbortSignal: ``abort()`` tells the fake server to give up a request."""

    def __init__(self):
        self.aborted = False
        self.listeners = []

    def abort(self):
        self.aborted = True
        for listener in self.listeners:
            listener()


class Reply:
    def __init__(self, status, *, headers=None, body=b""):
        self.status = status
        self.headers = Headers(headers)
        self.body = body
        self.url = None


def reply(status=200, *, json=None, text=None, headers=None):
    headers = dict(headers or {})
    body = b""
    if json is not None:
        body = _json.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif text is not None:
        body = text.encode()
    return Reply(status, headers=headers, body=body)


class FakeBrowser:
    """What the tabs of one fake browser share: Web Locks, BroadcastChannels, localStorage."""

    def __init__(self):
        self.storage = {}
        self.locks = {}  # name -> queue of waiters; the head holds the lock
        self.channels = {}  # name -> open FakeChannels
        self.closed_posts = 0  # posts on a closed channel (the browser throws InvalidStateError)

    async def acquire_lock(self, name, timeout):
        queue = self.locks.setdefault(name, [])
        turn = Signal()
        queue.append(turn)
        if queue[0] is turn:
            turn.set()
        expired = []

        def give_up():
            expired.append(True)
            turn.set()

        timer = call_later(timeout, give_up)
        await turn.wait()
        cancel(timer)
        if expired and queue[0] is not turn:
            queue.remove(turn)
            from .errors import NetworkError

            raise NetworkError(f"the cross-tab refresh lock was not granted within {timeout} s")

        def release():
            if queue and queue[0] is turn:
                queue.pop(0)
                if queue:
                    queue[0].set()

        return release


class FakeChannel:
    def __init__(self, browser, name, on_message):
        self.browser, self.name, self.on_message = browser, name, on_message
        browser.channels.setdefault(name, []).append(self)

    def post(self, text):
        if self not in self.browser.channels.get(self.name, []):
            self.browser.closed_posts += 1
            return "InvalidStateError: the channel is closed"  # what the browser's would throw
        for other in self.browser.channels.get(self.name, []):
            if other is not self:  # like BroadcastChannel: delivered later, not to itself
                call_later(0, lambda other=other: other.on_message(text))
        return ""

    def close(self):
        peers = self.browser.channels.get(self.name, [])
        if self in peers:
            peers.remove(self)


class FakeTransport:
    """The page side of a transport (URL, cookies, wake-ups, tabs) with a fake server behind.

    ``wire_factory(transport, max_in_flight=, paced_origin=)`` makes each session's wire:
    PassThroughWire by default; the portable tests pass one that wraps the real engine.js.
    """

    def __init__(self, handler, *, page_url=DEFAULT_PAGE, cookies=None, browser=None, sees_cookies=True, wire_factory=None):
        self.handler = handler
        self.page = page_url
        # False plays a worker on a page without isolation; "shared-memory" one in WebKit
        self.sees_cookies = sees_cookies
        self.limit = None  # the connections max_in_flight="auto" finds (None: unknown, no limit)
        # Passing the same dict to several transports shares the cookie jar, as tabs do.
        self.cookies = cookies if cookies is not None else {}
        self.session_storage = {}  # this tab's sessionStorage
        self.browser = browser
        self.sent = []
        self._wake_callbacks = []
        self._wire_factory = wire_factory or PassThroughWire

    def wire(self, *, max_in_flight, paced_origin):
        return self._wire_factory(self, max_in_flight=max_in_flight, paced_origin=paced_origin)

    def on_wake(self, callback):
        if callback not in self._wake_callbacks:
            self._wake_callbacks.append(callback)

    def off_wake(self, callback):
        if callback in self._wake_callbacks:
            self._wake_callbacks.remove(callback)

    def wake(self):
        """Play the page becoming visible again (or the browser coming back online)."""
        for callback in list(self._wake_callbacks):
            callback()

    def tabs_available(self):
        return self.browser is not None

    async def acquire_lock(self, name, timeout):
        return await self.browser.acquire_lock(name, timeout)

    def open_channel(self, name, on_message):
        return FakeChannel(self.browser, name, on_message)

    def shared_ready(self):
        return True

    def shared_get(self, key):
        return self.browser.storage.get(key)

    def shared_set(self, key, value):
        self.browser.storage[key] = value
        return ""

    def session_get(self, key):
        return self.session_storage.get(key)

    def session_set(self, key, value):
        if value is None:
            self.session_storage.pop(key, None)
        else:
            self.session_storage[key] = value
        return ""

    def page_url(self):
        return self.page

    def read_cookie(self, name):
        return self.cookies.get(name)

    def cookies_unseen(self):
        return None if self.sees_cookies is True else (self.sees_cookies or "isolation")

    def body_kind(self, body):
        return "stream" if isinstance(body, FakeStream) else None

    async def serve(self, sent, abort=None):
        """Record ``sent`` and run the handler; what it answers, or the failure (the abort's too)."""
        self.sent.append(sent)
        abort = abort or FakeAbort()
        if abort.aborted:
            return NetworkFailure("aborted")
        done = Signal()
        outcome = []

        async def run():
            try:
                result = self.handler(sent)
                if hasattr(result, "send"):  # a coroutine: MicroPython has no inspect module
                    result = await result
                outcome.append(result)
            except Exception as error:  # the handler's failure is the network's failure
                outcome.append(error)
            done.set()

        task = spawn(run())
        abort.listeners.append(done.set)
        await done.wait()
        if not outcome:
            task.cancel()
            return NetworkFailure("aborted")
        return outcome[0]


class PassThroughWire:
    """The session's wire on CPython: each submit straight to the handler (like MockTransport).

    Answers come back in the engine's format (a number ``kept * 1000 + status``; a failure is
    raised as NetworkError). It sends the call's own headers only: the profile's defaults, the
    token and the CSRF header are engine.js's to add. ``applied`` lists every command the
    session sent, as JSON would carry it (non-finite numbers fail here, as in the engine);
    ``report(*items)`` hands the session a batch as the engine would; ``waiting`` is what
    ``pending()`` says (requests the engine would hold).
    """

    def __init__(self, transport, *, max_in_flight=None, paced_origin=None):
        self.transport = transport
        self.applied = []
        self.profiles = {}
        self.kept = {}
        self.listener = None
        self.tracing = False
        self.waiting = 0

    async def submit(self, ident, profile, request, flags):
        body = request.content if request.stream is None else request.stream.data
        body = body.encode() if isinstance(body, str) else body or b""
        sent = Sent(request.method, request.url, request.headers or Headers(), body, bool(flags & CREDENTIALED))
        answer = await self.transport.serve(sent)
        if isinstance(answer, Exception):
            raise NetworkError(f"{request.method} {request.url} failed: {answer}", request=request)
        answer.url = request.url
        self.kept[len(self.kept) + 1] = answer
        return len(self.kept) * 1000 + answer.status

    def apply(self, commands):
        self.applied += _json.loads(_json.dumps(commands, allow_nan=False))

    def report(self, *items):
        self.listener(_json.dumps(list(items)))

    def listen(self, callback):
        self.listener = callback

    def profile(self, number, settings):
        self.profiles[number] = settings

    def forget(self, number):
        self.profiles.pop(number, None)

    def close(self):
        self.listener = None

    def cancel(self, ident):
        pass

    def trace(self, on):
        self.tracing = bool(on)

    def pending(self):
        return self.waiting

    def stats(self):
        return {"replays": 0, "recalls": 0, "max_held": 0, "max_in_flight": None}

    def headers(self, kept):
        return self.kept[kept].headers.items()

    def url(self, kept):
        return self.kept[kept].url

    async def text(self, kept):
        return self.kept[kept].body.decode("utf-8")

    async def bytes(self, kept):
        return self.kept[kept].body

    async def bounded(self, kept, limit, timeout_ms, keep=False):
        body = self.kept[kept].body
        return body.decode("utf-8", "replace") if len(body) <= limit else None
