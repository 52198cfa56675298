"""A fake transport for tests: a handler callable plays the server (like httpx.MockTransport).

    def handler(sent):
        return reply(200, json={"ok": True})
    api = AuthClient("https://app.test/api", refresh_url="/api/refresh", transport=FakeTransport(handler))

The handler may be async. Raising NetworkFailure (or anything) from it is a network error.
``FakeBrowser`` lets several transports play tabs of one browser (locks, channels, storage).
The fake keeps a cookie jar (``cookies``) that pages could read, and every request it saw
(``sent``), so tests count what reached the "server".

Each session's requests travel through a FakeEngine (fake_engine.py: engine.js told in Python)
unless ``wire_factory`` says otherwise.
"""

import json as _json

from .compat import Signal, call_later, cancel, spawn
from .fake_engine import FakeAbort, FakeEngine, Sent  # noqa: F401 (for handlers and fakes)
from .models import Headers

DEFAULT_PAGE = "https://app.test/"


class NetworkFailure(Exception):
    pass


class FakeStream:
    """Stands for a browser ReadableStream body: it can be sent only once."""

    def __init__(self, data):
        self.data = data


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
            raise RuntimeError("InvalidStateError: the channel is closed")  # as the browser's does
        for other in self.browser.channels.get(self.name, []):
            if other is not self:  # like BroadcastChannel: delivered later, not to itself
                call_later(0, lambda other=other: other.on_message(text))

    def close(self):
        peers = self.browser.channels.get(self.name, [])
        if self in peers:
            peers.remove(self)


class FakeTransport:
    """The page side of a transport (URL, cookies, wake-ups, tabs) with a fake server behind.

    ``wire_factory(transport, max_in_flight=, paced_origin=)`` makes each session's engine:
    FakeEngine by default; the portable tests pass one that wraps the real engine.js.
    """

    def __init__(self, handler, *, page_url=DEFAULT_PAGE, cookies=None, browser=None, sees_cookies=True, wire_factory=None):
        self.handler = handler
        self.page = page_url
        self.sees_cookies = sees_cookies  # False plays a worker on a page without isolation
        self.limit = None  # the connections max_in_flight="auto" finds (None: unknown, no limit)
        # Passing the same dict to several transports shares the cookie jar, as tabs do.
        self.cookies = cookies if cookies is not None else {}
        self.browser = browser
        self.sent = []
        self._wake_callbacks = []
        self._wire_factory = wire_factory or FakeEngine

    def wire(self, *, max_in_flight, paced_origin):
        return self._wire_factory(self, max_in_flight=max_in_flight, paced_origin=paced_origin)

    def on_wake(self, callback):
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

    def shared_get(self, key):
        return self.browser.storage.get(key)

    def shared_set(self, key, value):
        self.browser.storage[key] = value

    def page_url(self):
        return self.page

    def read_cookie(self, name):
        return self.cookies.get(name)

    def cookies_readable(self):
        return self.sees_cookies

    def body_kind(self, body):
        return "stream" if isinstance(body, FakeStream) else None

    async def serve(self, sent, abort):
        """Record ``sent`` and run the handler; what it answers, or the failure (the abort's too)."""
        self.sent.append(sent)
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
