"""AuthClient options: named defaults, validated once at construction (UsageError names the argument)."""

from . import urls
from .inputs import header_problem
from .coordinator import DEFAULT_LEEWAY, DEFAULT_REFRESH_RETRIES
from .errors import UsageError
from .servers import Server


class _FromServer:
    def __repr__(self):
        return "FROM_SERVER"


# The default of mode, token_field, csrf_cookie and csrf_header: what the server's description says.
FROM_SERVER = _FromServer()

MODES = ("cookie", "bearer")
# Where a refresh token that travels in the body (Simple JWT, OAuth 2.0) is kept: this page's
# memory (a reload signs the user out), or, opted in, sessionStorage, which any script on the
# page can read (an XSS steals a token good for the refresh token's whole lifetime).
MEMORY = "memory"
SESSION_STORAGE = "sessionStorage"
DEFAULT_REFRESH_TOKEN_STORAGE = MEMORY
DEFAULT_REFRESH_ON = (401,)
DEFAULT_REFRESH_TIMEOUT = 10.0
DEFAULT_TIMEOUT = None  # fetch semantics: a request waits as long as the browser lets it
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# max_in_flight: as many requests in the browser's hands as the origin's connections carry
# (the engine reads the protocol from Resource Timing's nextHopProtocol).
AUTO = "auto"
DEFAULT_MAX_IN_FLIGHT = AUTO
# Request URLs repeat; parsing one costs a MicroPython page about 0.2 ms, more than the rest of
# a request's bookkeeping, so each client remembers this many (then starts afresh).
URL_MEMO_SIZE = 256

# What the engine is told about each request (the same numbers as FLAGS in engine.js).
CREDENTIALED = 1  # cookies, the bearer token, the CSRF header on unsafe methods
COORDINATED = 2  # through the gate: held during a refresh, a refresh-wanted answer reported
RECALLABLE = 4  # a safe method with a replayable body: may be aborted and sent again
PACED = 8  # goes to the refresh URL's origin, whose connections max_in_flight counts
ONCE = 16  # its body may be sent only once (a stream, a generator): a 401 is not replayed
# Only for the client: a fetch to the sign-in or sign-out URL starts or ends the session.
SIGN_IN = 1 << 8
SIGN_OUT = 1 << 9


MAX_SECONDS = 24 * 86400.0  # browsers' timers run out at 2**31 ms (24.8 days) and fire at once


def check_timeout(name, value, *, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:  # NaN fails too
        raise UsageError(f"{name} must be a number of seconds from 0 to {MAX_SECONDS:.0f} (24 days), got {value!r}")
    return float(value)


def check_headers(name, headers):
    if headers is None:
        return []
    if not hasattr(headers, "items"):
        raise UsageError(f"{name} must be a dict of header names to values, got {type(headers).__name__}")
    pairs = []
    for key, value in headers.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise UsageError(f"{name}: header {key!r} must map a name to a string value, got {value!r}")
        problem = header_problem(key, value)
        if problem:
            raise UsageError(f"{name}: header {key!r} cannot be sent: {problem}")
        pairs.append((key, value))
    return pairs


class Options:
    def __init__(
        self,
        page_url,
        base_url,
        *,
        refresh_url,
        allowed_origins,
        server,
        mode,
        token_field,
        csrf_cookie,
        csrf_header,
        refresh_token_storage,
        refresh_on,
        no_refresh_for,
        login_url,
        logout_url,
        headers,
        timeout,
        refresh_timeout,
        refresh_retries,
        leeway,
        max_in_flight,
        cross_tab,
        lock_timeout,
        share_token,
    ):
        self._resolved = {}  # request URL -> absolute URL
        self._allowed = {}  # absolute URL -> may carry credentials
        self._routes = {}  # absolute URL -> the engine's flags (and SIGN_IN / SIGN_OUT)
        self.page_url = page_url
        self.page_origin = urls.origin(page_url)
        self.base_url = urls.resolve(page_url, base_url, argument="base_url")
        if not self.base_url.endswith("/"):
            self.base_url = urls.without_fragment_and_query(self.base_url) + "/"
        origins = [self.page_origin]
        for item in allowed_origins or ():
            origins.append(urls.origin(urls.resolve(page_url, item, argument="allowed_origins")))
        self.allowed_origins = origins
        if not isinstance(refresh_url, str) or not refresh_url:
            raise UsageError("refresh_url is required: the URL of the refresh-token endpoint")
        self.refresh_url = self._absolute(refresh_url, "refresh_url")
        self.refresh_origin = urls.origin(self.refresh_url)
        if not self.allowed(self.refresh_url):
            raise UsageError(
                f"refresh_url {refresh_url!r} is on {urls.origin(self.refresh_url)}, which is not the page's "
                f"origin nor in allowed_origins; credentials are never sent there"
            )
        if isinstance(server, str):
            server = Server.preset(server)
        elif not isinstance(server, Server):
            raise UsageError(f"server must be a preset's name or a Server, got {server!r}")
        self.server = server
        mode = server.mode if mode is FROM_SERVER else mode
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
        if server.in_body and mode != "bearer":
            raise UsageError(
                f"mode={mode!r} cannot work with the {server.name!r} server: its refresh token travels in the "
                f"body, so there are no session cookies and the access token must go in Authorization (mode='bearer')"
            )
        self.mode = mode
        token_field = server.access_field if token_field is FROM_SERVER else token_field
        if not isinstance(token_field, str) or not token_field:
            raise UsageError(f"token_field must be a dotted path like 'data.accessToken', got {token_field!r}")
        self.token_field = token_field
        csrf_cookie = server.csrf_cookie if csrf_cookie is FROM_SERVER else csrf_cookie
        csrf_header = server.csrf_header if csrf_header is FROM_SERVER else csrf_header
        for name, value in (("csrf_cookie", csrf_cookie), ("csrf_header", csrf_header)):
            if value is not None and (not isinstance(value, str) or not value):
                raise UsageError(f"{name} must be a non-empty string or None, got {value!r}")
        self.csrf_cookie = csrf_cookie
        self.csrf_header = csrf_header
        if refresh_token_storage not in (MEMORY, SESSION_STORAGE):
            raise UsageError(f"refresh_token_storage must be {MEMORY!r} or {SESSION_STORAGE!r}, got {refresh_token_storage!r}")
        if refresh_token_storage != MEMORY and not server.in_body:
            raise UsageError(
                f"refresh_token_storage={refresh_token_storage!r} is for a refresh token in the body; the "
                f"{server.name!r} server keeps it in an HttpOnly cookie, where no script can read it"
            )
        self.refresh_token_storage = refresh_token_storage
        try:
            statuses = tuple(refresh_on)
        except TypeError:
            raise UsageError(f"refresh_on must be a tuple of HTTP statuses, got {refresh_on!r}") from None
        for status in statuses:
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599 or status == 403:
                raise UsageError(f"refresh_on: {status!r} is not a 4xx/5xx status that may mean 'stale' (403 never does)")
        self.refresh_on = statuses
        self.login_url = None if login_url is None else urls.without_fragment_and_query(self._absolute(login_url, "login_url"))
        self.logout_url = None if logout_url is None else urls.without_fragment_and_query(self._absolute(logout_url, "logout_url"))
        exempt = [self.refresh_url]
        for url in no_refresh_for or ():
            exempt.append(self._absolute(url, "no_refresh_for"))
        exempt += [u for u in (self.login_url, self.logout_url) if u]
        self.no_refresh_for = [urls.without_fragment_and_query(u) for u in exempt]
        self.headers = check_headers("headers", headers)
        self.timeout = check_timeout("timeout", timeout)
        self.refresh_timeout = check_timeout("refresh_timeout", refresh_timeout, allow_none=False)
        if isinstance(refresh_retries, bool) or not isinstance(refresh_retries, int) or refresh_retries < 0:
            raise UsageError(f"refresh_retries must be an int >= 0, got {refresh_retries!r}")
        self.refresh_retries = refresh_retries
        self.leeway = check_timeout("leeway", leeway)  # None: no renewal ahead of expiry
        if max_in_flight is not None and max_in_flight != AUTO and (
            isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
        ):
            raise UsageError(f"max_in_flight must be 'auto', None or an int >= 1, got {max_in_flight!r}")
        self.max_in_flight = max_in_flight
        self.cross_tab = bool(cross_tab)
        self.lock_timeout = check_timeout("lock_timeout", lock_timeout, allow_none=False)
        self.share_token = bool(share_token)
        self.routes = self._compile_routes()

    def _absolute(self, url, argument):
        # Configuration URLs read like links on the page; request URLs hang under base_url.
        return urls.resolve(self.page_url, url, argument=argument)

    # The memos below are read on every request: a hit is one dict lookup, nothing allocated.

    def resolve(self, url):
        absolute = self._resolved.get(url) if isinstance(url, str) else None
        if absolute is None:
            absolute = _remember(self._resolved, url, urls.join(self.base_url, url))  # UsageError names it
        return absolute

    def allowed(self, absolute_url):
        allowed = self._allowed.get(absolute_url)
        if allowed is None:
            allowed = _remember(self._allowed, absolute_url, urls.origin(absolute_url) in self.allowed_origins)
        return allowed

    def route(self, absolute_url):
        """How a credentialed request to ``absolute_url`` travels: CREDENTIALED for allowed
        origins, COORDINATED unless ``no_refresh_for`` exempts it, PACED to the refresh URL's
        origin; SIGN_IN / SIGN_OUT for the login and logout URLs. 0 for any other origin."""
        flags = self._routes.get(absolute_url)
        if flags is None:
            flags = _remember(self._routes, absolute_url, self._route(absolute_url))
        return flags

    def _route(self, absolute_url):
        if not self.allowed(absolute_url):
            return 0
        flags = self.routes["exact"].get(urls.bare(absolute_url))
        if flags is not None:
            return flags
        return CREDENTIALED | COORDINATED | (PACED if urls.origin(absolute_url) == self.refresh_origin else 0)

    def _compile_routes(self):
        """The route rule as data (the table routes.js applies in the one tag while Python
        boots, compiled there from the same settings; the tag checks the two agree)."""
        exact = {}
        for url in self.no_refresh_for:  # the refresh URL first, then no_refresh_for
            exact[urls.bare(url)] = CREDENTIALED | (PACED if urls.origin(url) == self.refresh_origin else 0)
        if self.login_url:
            exact[urls.bare(self.login_url)] = CREDENTIALED | SIGN_IN
        if self.logout_url:
            exact[urls.bare(self.logout_url)] = CREDENTIALED | SIGN_OUT
        for url in list(exact):  # keys are origin + path: the origin is what comes before the path
            if urls.origin(url) not in self.allowed_origins:
                del exact[url]
        origins = []
        for origin in self.allowed_origins:
            if origin not in origins:
                origins.append(origin)
        return {"origins": origins, "paced": self.refresh_origin, "exact": exact, "cookies": self.mode == "cookie"}

    def profile(self, refresh=False):
        """What the engine keeps per client: when an answer wants a refresh, how to send the
        CSRF header, the default headers, whether to send the bearer token (not to a token
        endpoint that takes the refresh token in the body: an expired access token means nothing there)."""
        return {
            "refreshOn": list(self.refresh_on),
            "csrfCookie": self.csrf_cookie,
            "csrfHeader": self.csrf_header,
            "headers": [list(pair) for pair in self.headers],
            "bearer": self.mode == "bearer" and not (refresh and self.server.in_body),
        }


def tag_arguments(options):
    """``(base_url, keyword arguments)`` for AuthClient from the one tag's options (routes.js,
    pythonOptions: its data-* attributes by their Python names); UsageError for an unknown preset."""
    options = dict(options)
    base_url = options.pop("base_url", "")
    preset, client_id, scope = options.pop("server", None), options.pop("client_id", None), options.pop("scope", None)
    if preset is not None or client_id is not None or scope is not None:
        options["server"] = Server.preset(preset or "tutorial", client_id=client_id, scope=scope)
    return base_url, options


def _remember(table, key, value):
    if len(table) >= URL_MEMO_SIZE:
        table.clear()
    table[key] = value
    return value
