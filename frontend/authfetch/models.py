"""Request, Response and Headers: plain Python values the client hands around.

A Response wraps whatever the transport returned; reading its body goes back through the
transport, so no JS object is touched here.
"""

import json as _json

from .errors import HTTPStatusError, UsageError

MAX_KEPT = 2048  # what wire.js's keeper holds (MAX_KEPT, KEEP_MS there)
KEEP_SECONDS = 120


class Headers:
    """Case-insensitive, order-keeping header pairs."""

    def __init__(self, pairs=None):
        self._pairs = []
        if pairs is None:
            return
        items = pairs.items() if hasattr(pairs, "items") else pairs
        for name, value in items:
            self._pairs.append((str(name), str(value)))

    def get(self, name, default=None):
        wanted = name.lower()
        for key, value in self._pairs:
            if key.lower() == wanted:
                return value
        return default

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def set(self, name, value):
        self.remove(name)
        self._pairs.append((name, str(value)))

    def remove(self, name):
        wanted = name.lower()
        self._pairs = [(k, v) for k, v in self._pairs if k.lower() != wanted]

    def items(self):
        return list(self._pairs)

    def copy(self):
        return Headers(self._pairs)

    def __repr__(self):
        return f"Headers({self._pairs!r})"


class Request:
    """What the caller asked for, normalised once; replays send it again unchanged.

    ``content`` is the body as bytes or str (replayable unless ``once``), ``stream`` a body the
    transport can send only once, ``native`` a browser body (FormData, Blob, URLSearchParams)
    the engine buffers on first send. ``headers`` are the call's own (the client's defaults are the
    engine's), None when there are none.
    """

    def __init__(self, method, url, headers=None, content=None, native=None, stream=None, timeout=None, auth=True, once=False):
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.native = native
        self.stream = stream
        self.timeout = timeout
        self.auth = auth
        self.once = once  # content that stands for a one-shot body (a generator): never replayed

    @property
    def replayable(self):
        return self.stream is None and not self.once

    def __repr__(self):
        return f"<Request {self.method} {self.url}>"


class Response:
    """What came back. ``status``, ``ok``, ``url``, ``headers``; ``await text()/json()/bytes()``.

    The answer itself stays with the transport (``source``, under the number ``kept``); its
    headers, URL and body are read from there when first asked for.
    """

    def __init__(self, status, request=None, source=None, kept=0):
        self.status = status
        self.request = request
        self.native = kept  # the transport's number for the answer (the embed hands it to JS)
        self._source = source
        self._headers = None
        self._url = None
        self._content = None
        self._text = None

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def headers(self):
        if self._headers is None:
            self._headers = Headers(self._kept(self._source.headers(self.native), "headers"))
        return self._headers

    @property
    def url(self):
        if self._url is None:
            self._url = self._kept(self._source.url(self.native), "URL")
        return self._url

    async def bytes(self):
        if self._content is None:
            if self._text is not None:  # read as text already: the transport keeps no body it handed over
                self._content = self._text.encode("utf-8")
            else:
                self._content = self._kept(await self._source.bytes(self.native), "body")
        return self._content

    async def text(self):
        if self._text is None:
            if self._content is not None:
                self._text = self._content.decode("utf-8")
            else:
                self._text = self._kept(await self._source.text(self.native), "body")
        return self._text

    def _kept(self, value, what):
        """``value`` as the transport read it; None means the answer is no longer kept there."""
        if value is None:
            raise UsageError(
                f"the {what} of {self!r} to {self.request!r} can no longer be read: authfetch keeps the "
                f"latest {MAX_KEPT} answers, each for {KEEP_SECONDS} s, until they are read; read it sooner",
                request=self.request,
                response=self,
            )
        return value

    async def json(self):
        return _json.loads(await self.text())

    def raise_for_status(self):
        if self.status >= 400:
            raise HTTPStatusError(
                f"{self.status} for {self.request.method if self.request else 'request'} {self.url}",
                request=self.request,
                response=self,
            )
        return self

    def __repr__(self):
        return f"<Response {self.status}>"
