"""The JSON envelope, API errors, bounded body reading and the cookie attributes."""

import hmac
import hashlib
import json
import math
import secrets

from starlette.responses import JSONResponse, Response

from .settings import MAX_BODY_BYTES

ACCESS_COOKIE = "accessToken"
REFRESH_COOKIE = "refreshToken"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# The refresh cookie goes only where it is needed: refresh-token and logout live under this path.
REFRESH_COOKIE_PATH = "/api/v1/users"
REFRESH_PATH = REFRESH_COOKIE_PATH + "/refresh-token"  # the route (api.py) and its CSRF rule (app.py)


def envelope(status, data=None, message="", headers=None):
    body = {"statusCode": status, "data": data, "message": message, "success": status < 400}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """Raised by a handler; answered with the envelope and this status."""

    def __init__(self, status, message, *, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


DROP_HEADER = "x-stub-drop"


class DropConnection(Exception):
    """The connection was closed without a response (a test fault), where no socket exists."""


def drop_response():
    """A marker response: the outermost layer hangs up instead of sending it."""
    return Response(status_code=204, headers={DROP_HEADER: "1"})


def raw_response(status, text, media_type="application/json"):
    return Response(text, status_code=status, media_type=media_type)


async def read_body(request):
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request):
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "expected Content-Type: application/json")
    raw = await read_body(request)
    try:
        # NaN, Infinity and overflowing numbers are not JSON (RFC 8259) and would come back as a 500.
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "malformed JSON body") from None
    if not isinstance(value, dict):
        raise ApiError(400, "JSON body must be an object")
    return value


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


class CsrfTokens:
    """Signed double-submit tokens (OWASP): ``nonce.hmac(nonce)``, checked against the cookie."""

    def __init__(self):
        self._key = secrets.token_bytes(32)

    def _sign(self, nonce):
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def issue(self):
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, cookie, header):
        if not cookie or not header or not hmac.compare_digest(cookie, header):
            return False
        nonce, _, signature = cookie.partition(".")
        return hmac.compare_digest(signature, self._sign(nonce))


def set_session_cookies(response, *, access, refresh, csrf, refresh_max_age):
    common = {"secure": True, "samesite": "strict"}
    response.set_cookie(ACCESS_COOKIE, access, path="/", httponly=True, **common)
    response.set_cookie(
        REFRESH_COOKIE, refresh, path=REFRESH_COOKIE_PATH, max_age=int(refresh_max_age), httponly=True, **common
    )
    # Readable on purpose: the page copies it into the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, csrf, path="/", httponly=False, **common)


def clear_session_cookies(response):
    common = {"secure": True, "samesite": "strict"}
    response.delete_cookie(ACCESS_COOKIE, path="/", httponly=True, **common)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, **common)
    response.delete_cookie(CSRF_COOKIE, path="/", **common)
