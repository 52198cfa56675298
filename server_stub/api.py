"""The API routes, as the Express tutorial backend lays them out."""

import asyncio
import hashlib
import json

from starlette.routing import Route

from .http import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    REFRESH_PATH,
    ApiError,
    clear_session_cookies,
    drop_response,
    envelope,
    read_body,
    raw_response,
    read_json_object,
    set_session_cookies,
)
from .controls import shaping
from .tokens import TokenRejected

USERS = {
    "demo": {"_id": "u-demo", "username": "demo", "email": "demo@example.com", "fullName": "Demo User"},
}
PASSWORDS = {"demo": "demo"}
CHALLENGE_NONE = {"WWW-Authenticate": "Bearer"}
CHALLENGE_INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Api:
    def __init__(self, state):
        self.s = state

    def routes(self):
        return [
            Route("/api/v1/users/login", self.login, methods=["POST"]),
            Route(REFRESH_PATH, self.refresh, methods=["POST"]),
            Route("/api/v1/users/logout", self.logout, methods=["POST"]),
            Route("/api/v1/users/current-user", self.profile, methods=["GET"]),
            Route("/api/v1/users/profile", self.profile, methods=["GET"]),
            Route("/api/v1/echo", self.echo, methods=["POST", "PUT", "PATCH", "DELETE"]),
        ]

    def _session_response(self, user, family, refresh_token, message, *, with_user=False, shape=None):
        s = self.s
        access = s.access.issue(user=user, family=family)
        body = {"accessToken": access, "expiresIn": int(s.settings.access_ttl)}
        if with_user:
            body["user"] = USERS[user]
        response = envelope(200, body, message) if not shape else _shaped(body, message, shape)
        set_session_cookies(
            response,
            access=access,
            refresh=refresh_token,
            csrf=s.csrf.issue(),
            # Counted from login: a rotated cookie must not outlive the family's absolute lifetime.
            refresh_max_age=s.refresh.remaining(family),
        )
        return response

    async def login(self, request):
        payload = await read_json_object(request)
        name = payload.get("username") or payload.get("email")
        password = payload.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise ApiError(400, "username (or email) and password are required")
        user = next((u for u, rec in USERS.items() if name in (u, rec["email"])), None)
        if user is None or PASSWORDS[user] != password:
            raise ApiError(401, "invalid credentials")
        self.s.stats.bump("logins")
        family, refresh_token = self.s.refresh.login(user)
        return self._session_response(user, family, refresh_token, "User logged in successfully", with_user=True)

    async def refresh(self, request):
        s = self.s
        s.stats.bump("refresh_calls")
        fault = s.faults.next_refresh()
        if fault.get("delay_ms"):
            await asyncio.sleep(fault["delay_ms"] / 1000)
        if fault.get("drop"):
            return drop_response()
        if "status" in fault or "body" in fault:
            status = fault.get("status", 200)
            if "body" in fault:
                return raw_response(status, fault["body"], fault.get("content_type", "application/json"))
            return envelope(status, None, "injected fault")
        if not request.cookies.get(REFRESH_COOKIE):
            return envelope(401, None, "no_refresh_token")  # no session to renew: not signed in
        try:
            outcome = s.refresh.rotate(request.cookies.get(REFRESH_COOKIE))
        except TokenRejected as rejected:
            response = envelope(401, None, rejected.reason)
            if rejected.reason == "refresh_token_reused":
                clear_session_cookies(response)
            return response
        if fault.get("rotate_then_drop"):
            return drop_response()
        return self._session_response(outcome.user, outcome.family, outcome.token, "Access token refreshed", shape=shaping(fault))

    async def logout(self, request):
        s = self.s
        family = s.refresh.family_of(request.cookies.get(REFRESH_COOKIE))
        if family is None:
            token = _presented_token(request)
            try:
                family = token and s.access.claims(token, verify_exp=False)["fam"]
            except TokenRejected:
                family = None
        if family:
            s.refresh.revoke(family)
        response = envelope(200, {}, "User logged out")
        clear_session_cookies(response)
        return response

    def authenticate(self, request):
        token = _presented_token(request)
        if not token:
            raise ApiError(401, "unauthorized request", headers=CHALLENGE_NONE)
        try:
            claims = self.s.access.claims(token)
        except TokenRejected as rejected:
            raise ApiError(401, f"invalid access token ({rejected.reason})", headers=CHALLENGE_INVALID) from None
        if not self.s.refresh.family_live(claims.get("fam")):
            raise ApiError(401, "invalid access token (session revoked)", headers=CHALLENGE_INVALID)
        return claims["sub"]

    async def profile(self, request):
        user = self.authenticate(request)
        return envelope(200, USERS[user], "User fetched successfully")

    async def echo(self, request):
        self.authenticate(request)
        body = await read_body(request)
        request_id = request.headers.get("x-request-id")
        handled = 0
        if request_id:
            self.s.stats.request_ids[request_id] += 1
            handled = self.s.stats.request_ids[request_id]
        data = {
            "method": request.method,
            "headers": {
                name: request.headers.get(name)
                for name in ("Content-Type", "X-Request-Id", "X-CSRF-Token")
                if request.headers.get(name) is not None
            },
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "handled": handled,
        }
        return envelope(200, data, "echo")


def _shaped(body, message, fault):
    """A genuine refresh answer bent by a test fault: another access token in the answer (the
    cookie keeps the real one), a lifetime as raw JSON text (1e400 overflows a float), padding."""
    if "access_token" in fault:
        body["accessToken"] = fault["access_token"]
    if fault.get("pad_bytes"):
        body["padding"] = "x" * fault["pad_bytes"]
    raw_lifetime = fault.get("expires_in_raw")
    if raw_lifetime is not None:
        body["expiresIn"] = "__EXPIRES_IN__"
    text = json.dumps({"statusCode": 200, "data": body, "message": message, "success": True})
    if raw_lifetime is not None:
        text = text.replace('"__EXPIRES_IN__"', raw_lifetime)
    return raw_response(200, text)


def _presented_token(request):
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""
    return request.cookies.get(ACCESS_COOKIE)

