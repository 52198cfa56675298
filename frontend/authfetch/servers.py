"""What each server says, in one place: where its refresh token travels, how the refresh call's
body is shaped, which fields of an answer carry what, and which of its words end a session.

The coordinator decides what an answer means (new credentials, terminal, transient, "there
was never a session"); a Server only reads the server's own words into those terms, at the
edge (inputs.refresh_answer), so a new server is a new description, never new logic:

    Server.preset("simplejwt")                      # {"refresh": ...} in, {"access", "refresh"} out
    Server.preset("oauth2", client_id="spa")        # RFC 6749 section 6, form-encoded
    Server(refresh_token="body", refresh_field="token", access_field="jwt", ended_words=("expired",))
"""

import json

from .errors import UsageError

COOKIE = "cookie"  # the refresh token is an HttpOnly cookie: the browser sends it, no script sees it
BODY = "body"  # it travels in the refresh call's body, and lives in this page's memory
JSON = "json"
FORM = "form"
# Where servers put their words in an error answer: Simple JWT {"detail", "code"}, OAuth 2.0
# {"error"}, the tutorial's {"message"}.
WORD_FIELDS = ("code", "error", "message", "detail")
_UNSET = object()


class Server:
    """How one server speaks (every keyword has the tutorial's shape as its default).

    ``refresh_token``: COOKIE or BODY. In BODY mode the refresh call carries
    ``{refresh_field: token}`` (plus ``extra``) encoded as ``encoding`` (JSON or FORM), and
    an answer's ``rotated_field`` replaces the token. ``access_field``: where an answer (the
    sign-in's and the refresh's) carries the access token, a dotted path. ``login_refresh_field``:
    where a sign-in answer carries the refresh token (BODY mode). ``ended_words``: values of an
    error answer's code/error/message/detail that end the session whatever the status;
    ``no_session_words``: those that say there was no session at all (a first visit, not an
    expiry). ``logout_field`` / ``logout_extra``: the sign-out body in BODY mode (None: none).
    ``mode``, ``csrf_cookie``, ``csrf_header``: the AuthClient defaults this server implies.
    """

    def __init__(
        self,
        *,
        name="custom",
        refresh_token=COOKIE,
        encoding=JSON,
        refresh_field="refresh",
        rotated_field=_UNSET,
        extra=None,
        access_field="data.accessToken",
        login_refresh_field=_UNSET,
        ended_words=("refresh_token_reused",),
        no_session_words=(),
        logout_field=None,
        logout_extra=None,
        mode=_UNSET,
        csrf_cookie="csrf_token",
        csrf_header="X-CSRF-Token",
    ):
        if refresh_token not in (COOKIE, BODY):
            raise UsageError(f"refresh_token must be {COOKIE!r} or {BODY!r}, got {refresh_token!r}")
        if encoding not in (JSON, FORM):
            raise UsageError(f"encoding must be {JSON!r} or {FORM!r}, got {encoding!r}")
        for label, value in (("refresh_field", refresh_field), ("access_field", access_field)):
            if not isinstance(value, str) or not value:
                raise UsageError(f"{label} must be a non-empty string, got {value!r}")
        self.name = name
        self.refresh_token = refresh_token
        self.encoding = encoding
        self.refresh_field = refresh_field
        self.rotated_field = refresh_field if rotated_field is _UNSET else rotated_field
        self.extra = _fields("extra", extra)
        self.access_field = access_field
        self.login_refresh_field = self.rotated_field if login_refresh_field is _UNSET else login_refresh_field
        self.ended_words = _words("ended_words", ended_words)
        self.no_session_words = _words("no_session_words", no_session_words)
        self.logout_field = logout_field
        self.logout_extra = _fields("logout_extra", logout_extra)
        # Without cookies for it, the access token can only travel in Authorization.
        self.mode = ("bearer" if refresh_token == BODY else "cookie") if mode is _UNSET else mode
        self.csrf_cookie = csrf_cookie
        self.csrf_header = csrf_header

    @property
    def in_body(self):
        return self.refresh_token == BODY

    @staticmethod
    def preset(name, *, client_id=None, scope=None):
        """One of PRESETS by name; ``client_id`` and ``scope`` for "oauth2" (a public client)."""
        make = PRESETS.get(name) if isinstance(name, str) else None
        if make is None:
            raise UsageError(f"unknown server preset {name!r}; known: {', '.join(PRESETS)}")
        if name != "oauth2" and (client_id is not None or scope is not None):
            raise UsageError(f"client_id and scope are for the 'oauth2' preset, not {name!r}")
        return make(client_id, scope) if name == "oauth2" else make()

    # -- what goes out ----------------------------------------------------------------------------

    def refresh_body(self, refresh_token):
        """(body text, content type) of the refresh call in BODY mode."""
        return self._encode({self.refresh_field: refresh_token}, self.extra)

    def logout_body(self, refresh_token):
        """(body text, content type) of a sign-out in BODY mode, or None if it takes no body."""
        if self.logout_field is None or refresh_token is None:
            return None
        return self._encode({self.logout_field: refresh_token}, self.logout_extra)

    def _encode(self, fields, extra):
        pairs = list(extra) + list(fields.items())
        if self.encoding == FORM:
            return "&".join(_quote(key) + "=" + _quote(value) for key, value in pairs), "application/x-www-form-urlencoded"
        document = {}
        for key, value in pairs:
            document[key] = value
        return json.dumps(document), "application/json"

    # -- what comes back ----------------------------------------------------------------------

    def words(self, document):
        """("ended" | "no-session" | None): what an error answer's words say of the session."""
        if not isinstance(document, dict):
            return None
        said = [document.get(field) for field in WORD_FIELDS if isinstance(document.get(field), str)]
        # The more telling words first: dj-rest-auth answers a missing cookie with its "No valid
        # refresh token found." *and* Simple JWT's generic code token_not_valid.
        for value in said:
            if value in self.no_session_words:
                return "no-session"
        for value in said:
            if value in self.ended_words:
                return "ended"
        return None


def _fields(label, value):
    if value is None:
        return []
    if not hasattr(value, "items"):
        raise UsageError(f"{label} must be a dict of field names to strings, got {type(value).__name__}")
    pairs = []
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise UsageError(f"{label}: {key!r} must map a name to a string, got {item!r}")
        pairs.append((key, item))
    return pairs


def _words(label, value):
    if isinstance(value, str):
        return (value,)
    try:
        words = tuple(value)
    except TypeError:
        raise UsageError(f"{label} must be a tuple of strings, got {value!r}") from None
    for word in words:
        if not isinstance(word, str):
            raise UsageError(f"{label} must be strings, got {word!r}")
    return words


_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def _quote(text):
    """application/x-www-form-urlencoded, as URLSearchParams writes it (MicroPython has no urllib)."""
    out = []
    for byte in str(text).encode():
        char = chr(byte)
        if char in _SAFE:
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def _tutorial():
    return Server(name="tutorial")


def _simplejwt():
    # djangorestframework-simplejwt: TokenRefreshView takes {"refresh"} and answers {"access"}
    # (and a rotated "refresh" with ROTATE_REFRESH_TOKENS); a blacklisted or bad token is
    # 401 {"code": "token_not_valid"}. TokenBlacklistView signs out with the same body.
    return Server(
        name="simplejwt", refresh_token=BODY, refresh_field="refresh", access_field="access",
        ended_words=("token_not_valid",), logout_field="refresh", csrf_cookie=None, csrf_header=None,
    )


def _dj_rest_auth():
    # dj-rest-auth with USE_JWT and JWT_AUTH_HTTPONLY: both tokens in HttpOnly cookies, the
    # refresh from the jwt-refresh cookie; Django's CSRF (csrftoken cookie, X-CSRFToken). Its
    # "no refresh cookie" answer is the one sure sign of no session: Django's csrftoken cookie
    # outlives a sign-out, so a cookie is no proof of one.
    return Server(
        name="dj-rest-auth", refresh_token=COOKIE, access_field="access", ended_words=("token_not_valid",),
        no_session_words=("No valid refresh token found.",), csrf_cookie="csrftoken", csrf_header="X-CSRFToken",
    )


def _oauth2(client_id, scope):
    # RFC 6749 section 6: grant_type=refresh_token, form-encoded; errors {"error": ...} with 400
    # (invalid_grant: expired, revoked or reused) or 401 (invalid_client). RFC 7009 revocation
    # signs out with token=... (the provider's revocation endpoint as logout_url).
    extra = {"grant_type": "refresh_token"}
    logout_extra = {"token_type_hint": "refresh_token"}
    if client_id is not None:
        extra["client_id"] = logout_extra["client_id"] = client_id
    if scope is not None:
        extra["scope"] = scope
    return Server(
        name="oauth2", refresh_token=BODY, encoding=FORM, refresh_field="refresh_token", extra=extra,
        access_field="access_token", ended_words=("invalid_grant", "invalid_client", "unauthorized_client"),
        logout_field="token", logout_extra=logout_extra, csrf_cookie=None, csrf_header=None,
    )


PRESETS = {"tutorial": _tutorial, "simplejwt": _simplejwt, "dj-rest-auth": _dj_rest_auth, "oauth2": _oauth2}
DEFAULT_SERVER = "tutorial"
