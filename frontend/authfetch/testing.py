"""A fake transport for tests: a handler callable plays the server (like httpx.MockTransport).

    def handler(sent):
        return reply(200, json={"ok": True})
    api = AuthClient("https://app.test/api", refresh_url="/api/refresh", transport=FakeTransport(handler))

The handler may be async. Raising NetworkFailure (or anything) from it is a network error.
``FakeBrowser`` lets several transports play tabs of one browser (locks, channels, storage).
The fake keeps a cookie jar (``cookies``) that pages could read, and every request it saw
(``sent``), so tests count what reached the "server".
"""

import json as _json

from .compat import Signal, call_later, cancel, spawn
from .errors import NetworkError
from .models import Headers, Response

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


def reply(status=200, *, json=None, text=None, headers=None):
    headers = dict(headers or {})
    body = b""
    if json is not None:
        body = _json.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif text is not None:
        body = text.encode()
    return Reply(status, headers=headers, body=body)


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
    def __init__(self):
        self.aborted = False
        self._listeners = []

    def abort(self):
        self.aborted = True
        for listener in self._listeners:
            listener()


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
    def __init__(self, handler, *, page_url=DEFAULT_PAGE, cookies=None, browser=None, sees_cookies=True):
        self.handler = handler
        self.page = page_url
        self.sees_cookies = sees_cookies  # False plays a worker on a page without isolation
        self.limit = None  # what max_in_flight="auto" finds
        # Passing the same dict to several transports shares the cookie jar, as tabs do.
        self.cookies = cookies if cookies is not None else {}
        self.browser = browser
        self.sent = []
        self._wake_callbacks = []

    def on_wake(self, callback):
        self._wake_callbacks.append(callback)

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

    def off_wake(self, callback):
        if callback in self._wake_callbacks:
            self._wake_callbacks.remove(callback)

    def wake(self):
        """Play the page becoming visible again (or the browser coming back online)."""
        for callback in list(self._wake_callbacks):
            callback()

    def page_url(self):
        return self.page

    def read_cookie(self, name):
        return self.cookies.get(name)

    def cookies_readable(self):
        return self.sees_cookies

    def connection_limit(self, origin):
        return self.limit  # None: hand every request over at once, as a browser over HTTP/2 would

    def abort_handle(self):
        return FakeAbort()

    def body_kind(self, body):
        return "stream" if isinstance(body, FakeStream) else None

    async def send(self, request, *, headers, credentials, abort=None):
        body = request.content if request.stream is None else request.stream.data
        if isinstance(body, str):
            body = body.encode()
        sent = Sent(request.method, request.url, headers, body or b"", credentials)
        self.sent.append(sent)
        if abort is None:
            outcome = await self._run(sent)
        else:
            outcome = await self._run_abortable(sent, abort)
        if isinstance(outcome, Exception):
            raise NetworkError(f"{request.method} {request.url} failed: {outcome}", request=request, cause=outcome)
        result = outcome

        async def reader():
            return result.body

        return Response(result.status, headers=result.headers, url=request.url, reader=reader, request=request)

    async def _run(self, sent):
        try:
            result = self.handler(sent)
            if hasattr(result, "send"):  # a coroutine: MicroPython has no inspect module
                result = await result
            return result
        except Exception as error:  # the handler's failure is the network's failure
            return error

    async def _run_abortable(self, sent, abort):
        if abort.aborted:
            return NetworkFailure("aborted")
        done = Signal()
        outcome = []

        async def run():
            outcome.append(await self._run(sent))
            done.set()

        task = spawn(run())
        abort._listeners.append(done.set)
        await done.wait()
        if not outcome:
            task.cancel()
            return NetworkFailure("aborted")
        return outcome[0]
