"""Test-only controls and counters: /__harness__/expire, /reset, /stats, and the middleware that counts.

State lives in this process's memory (uvicorn runs one worker); sync views run in several
threads under ASGI, hence the lock.
"""

import hashlib
import json
import math
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

from django.http import JsonResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

_lock = threading.Lock()
_expired_before = None  # access JWTs whose iat is below this (whole seconds) are refused


def _fresh_counters():
    return {
        "refresh": [],
        "writes": Counter(),
        "writes_by_kind": defaultdict(Counter),
        "gets": defaultdict(Counter),
        "echoes": defaultdict(Counter),
    }


_counters = _fresh_counters()
_issued = {}  # kind -> the last refresh token issued to anyone (kept across reset: it is state)

# Which calls are counted, by path (trailing slash optional, as dj-rest-auth's patterns allow).
REFRESH = {"/sj/token/refresh/": "sj", "/dra/token/refresh/": "dra", "/o/token/": "oauth"}
SIGN_IN = {"/sj/token/": "sj", "/dra/login/": "dra", "/o/token/": "oauth"}
PROFILE = {"/sj/profile/": "sj", "/dra/user/": "dra", "/oauth/profile/": "oauth"}
ECHO = {"/sj/echo/": "sj", "/dra/echo/": "dra", "/oauth/echo/": "oauth"}


def expired_before():
    return _expired_before


def count_write(kind, ident):
    with _lock:
        _counters["writes"][str(ident)] += 1
        _counters["writes_by_kind"][kind][str(ident)] += 1


def _sha(token):
    return hashlib.sha256(token.encode()).hexdigest() if token else None


def _params(request):
    """The request's JSON or form fields, from request.body (Django caches it, so the view still reads it)."""
    body = request.body
    if request.content_type == "application/json":
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if request.content_type == "application/x-www-form-urlencoded":
        return QueryDict(body)
    return {}


def _json(response):
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class HarnessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "OPTIONS":
            return self.get_response(request)
        path = request.path if request.path.endswith("/") else request.path + "/"
        presented = refresh_kind = None
        if path in REFRESH and request.method == "POST":
            params = _params(request)
            kind = REFRESH[path]
            if kind == "sj":
                refresh_kind, presented = kind, params.get("refresh")
            elif kind == "dra":
                # As dj-rest-auth's CookieTokenRefreshSerializer: a non-empty "refresh" field wins, else the cookie.
                refresh_kind = kind
                presented = params.get("refresh") or request.COOKIES.get("jwt-refresh")
            elif params.get("grant_type") == "refresh_token":  # /o/token/ also serves the password grant
                refresh_kind, presented = kind, params.get("refresh_token")
            if not isinstance(presented, str):
                presented = None

        response = self.get_response(request)

        issued = None
        if request.method == "POST" and response.status_code == 200 and (path in SIGN_IN or path in REFRESH):
            kind = SIGN_IN.get(path) or REFRESH.get(path)
            if kind == "dra":
                morsel = response.cookies.get("jwt-refresh")
                issued = morsel.value if morsel is not None else None
            else:
                issued = _json(response).get("refresh" if kind == "sj" else "refresh_token")
            if isinstance(issued, str) and issued:
                with _lock:
                    _issued[kind] = issued
            else:
                issued = None
        with _lock:
            if refresh_kind:
                _counters["refresh"].append(
                    {"kind": refresh_kind, "status": response.status_code, "token": _sha(presented), "issued": _sha(issued)}
                )
            if request.method == "GET" and path in PROFILE:
                _counters["gets"][PROFILE[path]][str(response.status_code)] += 1
            if request.method == "POST" and path in ECHO:
                _counters["echoes"][ECHO[path]][str(response.status_code)] += 1
        return response


@csrf_exempt
@require_POST
def expire(request):
    """Every access token issued so far stops working now; refresh tokens keep working."""
    global _expired_before
    from oauth2_provider.models import AccessToken

    # JWTs: not a new signing key (that would kill the refresh tokens too) but a mark the
    # authentication classes compare with the token's iat. iat is whole seconds (floored), so the
    # mark is the next whole second: every token issued until now has iat < mark. Then wait until
    # that second has begun, so every token issued after this answer has iat >= mark.
    now = time.time()
    mark = math.floor(now) + 1
    _expired_before = mark
    time.sleep(max(0.0, mark - now))
    # django-oauth-toolkit keeps its access tokens in the database: move their expiry to the past.
    expired = AccessToken.objects.filter(expires__gt=timezone.now()).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    return JsonResponse({"expired_before": mark, "oauth_access_tokens": expired})


@csrf_exempt
@require_POST
def reset(request):
    """Clear the counters (users, the OAuth application, tokens and the expiry mark stay)."""
    global _counters
    with _lock:
        _counters = _fresh_counters()
    return JsonResponse({"reset": True})


@require_GET
def stats(request):
    with _lock:
        c = _counters

        def by_status(table):
            return {kind: {"total": sum(n.values()), "status": dict(n)} for kind, n in table.items()}

        data = {
            "refresh": list(c["refresh"]),
            "writes": dict(c["writes"]),
            "writes_by_kind": {kind: dict(n) for kind, n in c["writes_by_kind"].items()},
            "gets": by_status(c["gets"]),
            "echoes": by_status(c["echoes"]),
            "issued": dict(_issued),
            "expired_before": _expired_before,
        }
    return JsonResponse(data)
