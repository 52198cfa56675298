"""AuthClient: fetch with credentials, one refresh for any number of 401s, nothing lost.

    api = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token")
    profile = await (await api.get("/users/profile")).json()
"""

import json as _json

from . import inputs
from .config import (
    COORDINATED,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REFRESH_ON,
    DEFAULT_REFRESH_TIMEOUT,
    DEFAULT_REFRESH_TOKEN_STORAGE,
    DEFAULT_TIMEOUT,
    FROM_SERVER,
    METHODS,
    ONCE,
    RECALLABLE,
    SAFE_METHODS,
    SIGN_IN,
    SIGN_OUT,
    Options,
    check_headers,
    check_timeout,
)
from .compat import CancelledError, monotonic
from .coordinator import DEFAULT_LEEWAY, DEFAULT_REFRESH_RETRIES
from .errors import UsageError
from .events import EVENT_NAMES
from .models import Headers, Request
from .servers import DEFAULT_SERVER
from .session import session_for
from .tabs import DEFAULT_LOCK_TIMEOUT

_UNSET = object()


def _default_transport():
    from .transport import browser_transport  # the only import of the browser side

    return browser_transport()


# Why a PyScript worker has no page document to read the CSRF cookie from (transport.cookies_unseen).
UNSEEN = {
    "isolation": "Serve the page cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and "
    "Cross-Origin-Embedder-Policy: require-corp) so PyScript gives workers the page's document, "
    "or pass csrf_cookie=None if the server wants no CSRF header",
    "shared-memory": "The page is cross-origin isolated, but this browser gives workers no SharedArrayBuffer "
    "(WebKitGTK 2.50 does not), so PyScript cannot lend them the page's document: run authfetch on the page's main "
    "thread here, or pass csrf_cookie=None if the server wants no CSRF header",
}


class AuthClient:
    def __init__(
        self,
        base_url="",
        *,
        refresh_url,
        allowed_origins=(),
        server=DEFAULT_SERVER,
        mode=FROM_SERVER,
        token_field=FROM_SERVER,
        csrf_cookie=FROM_SERVER,
        csrf_header=FROM_SERVER,
        refresh_token_storage=DEFAULT_REFRESH_TOKEN_STORAGE,
        refresh_on=DEFAULT_REFRESH_ON,
        no_refresh_for=(),
        login_url=None,
        logout_url=None,
        headers=None,
        timeout=DEFAULT_TIMEOUT,
        refresh_timeout=DEFAULT_REFRESH_TIMEOUT,
        refresh_retries=DEFAULT_REFRESH_RETRIES,
        leeway=DEFAULT_LEEWAY,
        max_in_flight=DEFAULT_MAX_IN_FLIGHT,
        cross_tab=True,
        lock_timeout=DEFAULT_LOCK_TIMEOUT,
        share_token=False,
        transport=None,
    ):
        self.transport = transport or _default_transport()
        self.options = Options(
            self.transport.page_url(),
            base_url,
            refresh_url=refresh_url,
            allowed_origins=allowed_origins,
            server=server,
            mode=mode,
            token_field=token_field,
            csrf_cookie=csrf_cookie,
            csrf_header=csrf_header,
            refresh_token_storage=refresh_token_storage,
            refresh_on=refresh_on,
            no_refresh_for=no_refresh_for,
            login_url=login_url,
            logout_url=logout_url,
            headers=headers,
            timeout=timeout,
            refresh_timeout=refresh_timeout,
            refresh_retries=refresh_retries,
            leeway=leeway,
            max_in_flight=max_in_flight,
            cross_tab=cross_tab,
            lock_timeout=lock_timeout,
            share_token=share_token,
        )
        unseen = self.options.csrf_cookie and self.options.csrf_header and getattr(self.transport, "cookies_unseen", lambda: None)()
        if unseen:
            raise UsageError(f"csrf_cookie={self.options.csrf_cookie!r}: this PyScript worker cannot read the page's cookies. " + UNSEEN[unseen])
        self._session = session_for(self.options, self.transport)
        self._session.clients.append(self)
        self._profile = self._session.add_profile(self.options)
        self._closed = False

    def close(self):
        """Detach this client: its listeners and its settings in the engine go; the last client
        of a session stops its timers and cross-tab channel. Requests already running still
        settle (those asked for before close() too); new ones raise UsageError."""
        if self._closed:
            return
        self._closed = True
        self._session.close(self)

    # -- the public calls -------------------------------------------------------------------------

    def fetch(self, url, *, method="GET", headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True, once=False):
        """Send a request (await it); a Response comes back for every HTTP status (fetch semantics).
        ``once=True``: its body stands for one that can be sent only once (a generator, a file),
        so a 401 is not replayed (NonReplayableBody).

            resp = await api.fetch("/echo", method="POST", json={"a": 1})
        """
        if self._closed:
            raise _closed()
        return self._go(url, method, headers, body, json, timeout, auth, once)

    # The verbs hand over the coroutine of _go, not one of their own: on MicroPython each
    # coroutine level and each **kwargs pass costs a request several microseconds.

    def get(self, url, *, headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        if self._closed:
            raise _closed()
        return self._go(url, "GET", headers, body, json, timeout, auth)

    def post(self, url, *, headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        if self._closed:
            raise _closed()
        return self._go(url, "POST", headers, body, json, timeout, auth)

    def put(self, url, *, headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        if self._closed:
            raise _closed()
        return self._go(url, "PUT", headers, body, json, timeout, auth)

    def patch(self, url, *, headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        if self._closed:
            raise _closed()
        return self._go(url, "PATCH", headers, body, json, timeout, auth)

    def delete(self, url, *, headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        if self._closed:
            raise _closed()
        return self._go(url, "DELETE", headers, body, json, timeout, auth)

    async def _go(self, url, method, headers, body, json, timeout, auth, once=False):
        request = self._build(url, method, headers, body, json, timeout, auth)
        request.once = once
        flags = self.options.route(request.url) if request.auth else 0
        if once:
            flags |= ONCE
        if flags & SIGN_IN:
            return await self._sign_in(request, flags)  # however it is called, a sign-in revives the session
        if flags & SIGN_OUT:
            return await self._sign_out(request, flags)
        if flags & COORDINATED and request.method in SAFE_METHODS and request.replayable:
            flags |= RECALLABLE
        session = self._session
        ident = session.ident()
        try:
            answer = await session.wire.submit(ident, self._profile, request, flags)
        except CancelledError:
            session.wire.cancel(ident)  # nothing more is sent for it
            raise
        return session.outcome(request, answer)

    async def login(self, url=None, *, json=_UNSET, body=None, headers=None, timeout=_UNSET):
        """Sign in: POST the credentials; a 2xx makes the session live again.

            await api.login("/api/v1/users/login", json={"username": "demo", "password": "demo"})
        """
        target = url or self.options.login_url
        if target is None:
            raise UsageError("login needs a url (or login_url= on the client)")
        request = self._build(target, "POST", headers, body, json, timeout, True)
        return await self._sign_in(request, self.options.route(request.url))

    async def _sign_in(self, request, flags):
        # Outside the gate: a sign-in must go out while the session is ended or renewing.
        started = monotonic()
        response = await self._session.perform(self._profile, request, flags & ~(SIGN_IN | SIGN_OUT | COORDINATED))
        if response.ok:
            token = lifetime = refresh = None
            # Its token and lifetime, from no more of the body than an answer can need, within
            # what is left of the call's timeout (the body counts, as for the refresh).
            left = None if request.timeout is None else int(max(0.0, request.timeout - (monotonic() - started)) * 1000)
            try:
                text = await self._session.wire.bounded(response.native, inputs.SIGN_IN_ANSWER_LIMIT, left, True)
                if text is not None:
                    response._text = text  # the caller's json() reads it from here
                else:
                    inputs.note(f"the sign-in answer is over {inputs.SIGN_IN_ANSWER_LIMIT // 1024} KiB: its token was not read")
                server = self.options.server
                token, lifetime, refresh = inputs.sign_in_answer(
                    text, self.options.token_field, server.login_refresh_field if server.in_body else None
                )
            except Exception as error:  # signed in all the same; nothing is known of the token
                inputs.note(f"could not read the sign-in answer: {error!r}")
            self._session.signed_in(token, lifetime, refresh)
        return response

    async def logout(self, url=None, *, timeout=_UNSET):
        """Sign out: POST to the logout URL, then forget the credentials whatever it answered.
        Where the refresh token travels in the body, it goes in this body too, in the shape the
        server's revocation takes (``server.logout_body``), unless the call brings a body."""
        target = url or self.options.logout_url
        if target is None:
            raise UsageError("logout needs a url (or logout_url= on the client)")
        request = self._build(target, "POST", None, None, _UNSET, timeout, True)
        return await self._sign_out(request, self.options.route(request.url))

    async def _sign_out(self, request, flags):
        server = self.options.server
        if server.in_body and request.content is None and request.native is None and request.stream is None:
            # The server revokes the refresh token it is handed (Simple JWT's blacklist, RFC 7009).
            shaped = server.logout_body(self._session.coordinator.refresh_token)
            if shaped is not None:
                request.content = shaped[0]
                request.headers = Headers(list(request.headers.items()) if request.headers else [])
                if "content-type" not in request.headers:
                    request.headers.set("Content-Type", shaped[1])
        try:
            return await self._session.perform(self._profile, request, flags & ~(SIGN_IN | SIGN_OUT | COORDINATED))
        finally:
            self._session.signed_out()

    def on(self, name, listener):
        """Call ``listener(event)`` on each ``name`` event ("*" for all); returns an unsubscribe."""
        if name != "*" and name not in EVENT_NAMES:
            raise UsageError(f"unknown event {name!r}; known: {', '.join(EVENT_NAMES)}")
        if not callable(listener):
            raise UsageError(f"listener for {name!r} must be callable")
        return self._session.listen((self, name, listener))

    @property
    def stats(self):
        """Counters of the shared session: refreshes, replays, recalls, the most requests held at
        once, and the in-flight limit in force (``max_in_flight``, None for none)."""
        stats = self._session.coordinator.stats.as_dict()
        stats.update(self._session.wire.stats())
        return stats

    @property
    def generation(self):
        return self._session.coordinator.generation

    # -- building requests ------------------------------------------------------------------------

    def _build(self, url, method, headers, body, json, timeout, auth):
        verb = _VERBS.get(method) if isinstance(method, str) else None
        if verb is None and isinstance(method, str) and method.upper() in METHODS:
            verb = method.upper()
        if verb is None:
            raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        absolute = self.options.resolve(url)
        timeout = self.options.timeout if timeout is _UNSET else check_timeout("timeout", timeout)
        if headers is None and body is None and json is _UNSET:  # the common case, kept short
            return Request(verb, absolute, None, None, None, None, timeout, auth is True or bool(auth))
        merged = None
        pairs = check_headers("headers", headers)
        if pairs:
            merged = Headers(pairs)
        content = native = stream = None
        if json is not _UNSET:
            if body is not None:
                raise UsageError("pass body= or json=, not both")
            try:
                content = _json.dumps(json)
            except (TypeError, ValueError) as error:
                raise UsageError(f"json= is not JSON-serialisable: {error}") from None
            if merged is None:
                merged = Headers()
            if "content-type" not in merged and not self._default_content_type:
                merged.set("Content-Type", "application/json")
        elif isinstance(body, (str, bytes, bytearray)):
            content = bytes(body) if isinstance(body, bytearray) else body
        elif body is not None:
            kind = self.transport.body_kind(body) if hasattr(self.transport, "body_kind") else None
            if kind == "native":
                native = body
            elif kind == "stream":
                stream = body
            else:
                raise UsageError(
                    f"body must be str, bytes, or a browser FormData/Blob/URLSearchParams/ReadableStream; "
                    f"got {type(body).__name__}"
                )
        if (content is not None or native is not None or stream is not None) and verb in ("GET", "HEAD"):
            raise UsageError(f"a {verb} request cannot have a body")
        return Request(
            verb,
            absolute,
            headers=merged,
            content=content,
            native=native,
            stream=stream,
            timeout=timeout,
            auth=bool(auth),
        )

    @property
    def _default_content_type(self):
        for name, _ in self.options.headers:
            if name.lower() == "content-type":
                return True
        return False


def _closed():
    return UsageError("this AuthClient is closed: make a new one to send requests")


def engine_of(api):
    """(the engine, the client's number in it): the embed (bridge.py) sends the page's own
    requests through them, with the decisions of this client's session."""
    return api._session.wire.engine, api._profile


_VERBS = {}
for _name in METHODS:
    _VERBS[_name] = _VERBS[_name.lower()] = _name
