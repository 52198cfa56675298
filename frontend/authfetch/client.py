"""AuthClient: fetch with credentials, one refresh for any number of 401s, nothing lost.

    api = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token")
    profile = await (await api.get("/users/profile")).json()
"""

import json as _json

from . import tokens, urls
from .config import (
    DEFAULT_CSRF_COOKIE,
    DEFAULT_CSRF_HEADER,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MODE,
    DEFAULT_REFRESH_ON,
    DEFAULT_REFRESH_TIMEOUT,
    DEFAULT_TIMEOUT,
    METHODS,
    SAFE_METHODS,
    Options,
    check_headers,
    check_timeout,
)
from .coordinator import DEFAULT_LEEWAY, DEFAULT_REFRESH_RETRIES
from .errors import UsageError
from .events import EVENT_NAMES
from .models import Headers, Request
from .session import session_for
from .tabs import DEFAULT_LOCK_TIMEOUT

_UNSET = object()


def _default_transport():
    from .transport import browser_transport  # the only import of the browser side

    return browser_transport()


class AuthClient:
    def __init__(
        self,
        base_url="",
        *,
        refresh_url,
        allowed_origins=(),
        mode=DEFAULT_MODE,
        token_field=tokens.DEFAULT_TOKEN_FIELD,
        csrf_cookie=DEFAULT_CSRF_COOKIE,
        csrf_header=DEFAULT_CSRF_HEADER,
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
            mode=mode,
            token_field=token_field,
            csrf_cookie=csrf_cookie,
            csrf_header=csrf_header,
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
        if self.options.csrf_cookie and self.options.csrf_header and not getattr(self.transport, "cookies_readable", lambda: True)():
            raise UsageError(
                f"csrf_cookie={csrf_cookie!r}: this PyScript worker cannot read the page's cookies. "
                "Serve the page cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and "
                "Cross-Origin-Embedder-Policy: require-corp) so PyScript gives workers the page's "
                "document, or pass csrf_cookie=None if the server wants no CSRF header"
            )
        self._session = session_for(self.options, self.transport)
        self._session.clients.append(self)

    def close(self):
        """Detach this client: its listeners go; the last client of a session stops its timers
        and cross-tab channel. Requests already running still settle."""
        self._session.close(self)

    # -- the public calls -------------------------------------------------------------------------

    async def fetch(self, url, *, method="GET", headers=None, body=None, json=_UNSET, timeout=_UNSET, auth=True):
        """Send a request; a Response comes back for every HTTP status (fetch semantics).

            resp = await api.fetch("/echo", method="POST", json={"a": 1})
        """
        request = self._build(url, method, headers, body, json, timeout, auth)
        credentialed = request.auth and self.options.allowed(request.url)
        target = urls.without_fragment_and_query(request.url)
        if credentialed and target == self.options.login_url:
            return await self._sign_in(request)  # however it is called, a sign-in revives the session
        if credentialed and target == self.options.logout_url:
            return await self._sign_out(request)
        coordinated = credentialed and self.options.refreshable(request.url)
        return await self._session.perform(self, request, coordinated=coordinated)

    async def get(self, url, **kwargs):
        return await self.fetch(url, method="GET", **kwargs)

    async def post(self, url, **kwargs):
        return await self.fetch(url, method="POST", **kwargs)

    async def put(self, url, **kwargs):
        return await self.fetch(url, method="PUT", **kwargs)

    async def patch(self, url, **kwargs):
        return await self.fetch(url, method="PATCH", **kwargs)

    async def delete(self, url, **kwargs):
        return await self.fetch(url, method="DELETE", **kwargs)

    async def login(self, url=None, *, json=_UNSET, body=None, headers=None, timeout=_UNSET):
        """Sign in: POST the credentials; a 2xx makes the session live again.

            await api.login("/api/v1/users/login", json={"username": "demo", "password": "demo"})
        """
        target = url or self.options.login_url
        if target is None:
            raise UsageError("login needs a url (or login_url= on the client)")
        return await self._sign_in(self._build(target, "POST", headers, body, json, timeout, True))

    async def _sign_in(self, request):
        response = await self._session.perform(self, request, coordinated=False)
        if response.ok:
            document = None
            try:
                document = await response.json()
            except ValueError:
                document = None
            token = tokens.lookup(document, self.options.token_field) if isinstance(document, dict) else None
            lifetime = tokens.lifetime(document, token) if isinstance(document, dict) else None
            self._session.signed_in(token, lifetime)
        return response

    async def logout(self, url=None, *, timeout=_UNSET):
        """Sign out: POST to the logout URL, then forget the credentials whatever it answered."""
        target = url or self.options.logout_url
        if target is None:
            raise UsageError("logout needs a url (or logout_url= on the client)")
        return await self._sign_out(self._build(target, "POST", None, None, _UNSET, timeout, True))

    async def _sign_out(self, request):
        try:
            return await self._session.perform(self, request, coordinated=False)
        finally:
            self._session.signed_out()

    def on(self, name, listener):
        """Call ``listener(event)`` on each ``name`` event ("*" for all); returns an unsubscribe."""
        if name != "*" and name not in EVENT_NAMES:
            raise UsageError(f"unknown event {name!r}; known: {', '.join(EVENT_NAMES)}")
        if not callable(listener):
            raise UsageError(f"listener for {name!r} must be callable")
        entry = (self, name, listener)
        self._session.listeners.append(entry)

        def unsubscribe():
            if entry in self._session.listeners:
                self._session.listeners.remove(entry)

        return unsubscribe

    @property
    def stats(self):
        """Counters of the shared session: refreshes, replays, recalls, the most requests held at
        once, and the in-flight limit in force (``max_in_flight``, None for none)."""
        coordinator = self._session.coordinator
        return dict(coordinator.stats.as_dict(), max_in_flight=coordinator.max_in_flight)

    @property
    def generation(self):
        return self._session.coordinator.generation

    # -- used by the session ----------------------------------------------------------------------

    def outgoing(self, request, token):
        """Headers and credentials for one send: only allowed origins get any credential."""
        headers = request.headers.copy()
        if not (request.auth and self.options.allowed(request.url)):
            return headers, False
        if self.options.mode == "bearer" and token:
            headers.set("Authorization", "Bearer " + token)
        if request.method not in SAFE_METHODS and self.options.csrf_cookie and self.options.csrf_header:
            # Read at every send: a replay must carry the value the refresh rotated in.
            value = self.transport.read_cookie(self.options.csrf_cookie)
            if value:
                headers.set(self.options.csrf_header, value)
        return headers, True

    def refresh_wanted(self, response):
        if response.status not in self.options.refresh_on:
            return False
        challenge = response.headers.get("www-authenticate") or ""
        return "insufficient_scope" not in challenge

    # -- building requests ------------------------------------------------------------------------

    def _build(self, url, method, headers, body, json, timeout, auth):
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        method = method.upper()
        absolute = self.options.resolve(url)
        merged = Headers(self.options.headers)
        for name, value in check_headers("headers", headers):
            merged.set(name, value)
        timeout = self.options.timeout if timeout is _UNSET else check_timeout("timeout", timeout)
        content = native = stream = None
        if json is not _UNSET:
            if body is not None:
                raise UsageError("pass body= or json=, not both")
            try:
                content = _json.dumps(json)
            except (TypeError, ValueError) as error:
                raise UsageError(f"json= is not JSON-serialisable: {error}") from None
            if "content-type" not in merged:
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
        if (content is not None or native is not None or stream is not None) and method in ("GET", "HEAD"):
            raise UsageError(f"a {method} request cannot have a body")
        return Request(
            method,
            absolute,
            headers=merged,
            content=content,
            native=native,
            stream=stream,
            timeout=timeout,
            auth=bool(auth),
        )



