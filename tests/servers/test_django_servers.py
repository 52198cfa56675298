"""The real Django backend (tests/servers/django_site) answers as the browser tests will rely on.

One uvicorn process for the module; each test signs in afresh and starts from reset counters.
The bodies asserted here are the libraries' own words (Simple JWT, dj-rest-auth,
django-oauth-toolkit), seen on the wire.
"""

import hashlib
import time

import httpx
import jwt
import pytest

from tests.support.django_process import CLIENT_ID, DEMO, DjangoProcess

PAGE = "http://127.0.0.1:9"
EXPIRED = {  # Simple JWT's answer for an access token past its exp; the expiry mark gives the same
    "detail": "Given token not valid for any token type",
    "code": "token_not_valid",
    "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}],
}
BLACKLISTED = {"detail": "Token is blacklisted", "code": "token_not_valid"}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def server():
    process = DjangoProcess(PAGE)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def fresh_counters(server):
    server.reset()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.origin, timeout=10) as client:
        yield client


# --- 1. Simple JWT: the pair in the JSON body -------------------------------------------------------


def sj_sign_in(http):
    response = http.post("/sj/token/", json=DEMO)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access", "refresh"}
    return body


def sj_refresh(http, token):
    return http.post("/sj/token/refresh/", json={"refresh": token})


def test_sj_profile_expire_refresh_and_rotation(server, http):
    pair = sj_sign_in(http)
    assert server.stats()["issued"]["sj"] == pair["refresh"]
    profile = http.get("/sj/profile/", headers=bearer(pair["access"]))
    assert (profile.status_code, profile.json()) == (200, {"username": "demo"})
    anonymous = http.get("/sj/profile/")
    assert (anonymous.status_code, anonymous.json()) == (401, NO_CREDENTIALS)
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'

    server.expire()
    expired = http.get("/sj/profile/", headers=bearer(pair["access"]))
    assert (expired.status_code, expired.json()) == (401, EXPIRED)

    rotated = sj_refresh(http, pair["refresh"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert set(new) == {"access", "refresh"} and new["refresh"] != pair["refresh"]
    assert http.get("/sj/profile/", headers=bearer(new["access"])).status_code == 200

    replay = sj_refresh(http, pair["refresh"])  # rotated out: blacklisted
    assert (replay.status_code, replay.json()) == (401, BLACKLISTED)
    # Simple JWT revokes no family: the newer token still works.
    newest = sj_refresh(http, new["refresh"])
    assert newest.status_code == 200, newest.text

    stats = server.stats()
    assert stats["refresh"] == [
        {"kind": "sj", "status": 200, "token": sha(pair["refresh"]), "issued": sha(new["refresh"])},
        {"kind": "sj", "status": 401, "token": sha(pair["refresh"]), "issued": None},
        {"kind": "sj", "status": 200, "token": sha(new["refresh"]), "issued": sha(newest.json()["refresh"])},
    ]
    assert stats["gets"]["sj"] == {"total": 4, "status": {"200": 2, "401": 2}}
    assert stats["issued"]["sj"] == newest.json()["refresh"]


def test_sj_expiry_mark_answers_like_a_real_expiry(server, http):
    pair = sj_sign_in(http)
    claims = jwt.decode(pair["access"], options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 400, exp=now - 100)  # really past its exp, signed with the server's key
    forged = jwt.encode(claims, server.secret_key, algorithm="HS256")
    real = http.get("/sj/profile/", headers=bearer(forged))
    assert (real.status_code, real.json()) == (401, EXPIRED)

    started = time.monotonic()
    answer = server.expire()
    assert time.monotonic() - started < 1.5  # waits at most until the next whole second
    assert answer["expired_before"] <= time.time()
    marked = http.get("/sj/profile/", headers=bearer(pair["access"]))
    assert (marked.status_code, marked.json()) == (401, EXPIRED)
    # A token issued right after the expire answer works (its iat is not below the mark).
    assert http.get("/sj/profile/", headers=bearer(sj_sign_in(http)["access"])).status_code == 200


def test_sj_refresh_bad_input(server, http):
    empty = http.post("/sj/token/refresh/", json={})
    assert (empty.status_code, empty.json()) == (400, {"refresh": ["This field is required."]})
    garbage = sj_refresh(http, "not-a-token")
    assert (garbage.status_code, garbage.json()) == (401, {"detail": "Token is invalid", "code": "token_not_valid"})
    access = sj_sign_in(http)["access"]
    wrong_type = sj_refresh(http, access)
    assert (wrong_type.status_code, wrong_type.json()) == (401, {"detail": "Token has wrong type", "code": "token_not_valid"})
    wrong = http.post("/sj/token/", json={"username": "demo", "password": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "No active account found with the given credentials"})
    assert [(r["status"], r["token"]) for r in server.stats()["refresh"]] == [
        (400, None),
        (401, sha("not-a-token")),
        (401, sha(access)),
    ]


def test_sj_sign_out_blacklists(server, http):
    pair = sj_sign_in(http)
    out = http.post("/sj/token/blacklist/", json={"refresh": pair["refresh"]})
    assert (out.status_code, out.json()) == (200, {})
    assert sj_refresh(http, pair["refresh"]).json() == BLACKLISTED


def test_sj_echo_counts_writes(server, http):
    access = sj_sign_in(http)["access"]
    for _ in range(2):
        answer = http.post("/sj/echo/", json={"id": 7}, headers=bearer(access))
        assert (answer.status_code, answer.json()) == (200, {"id": 7})
    assert http.post("/sj/echo/", json={"id": 8}).status_code == 401  # not counted
    assert http.post("/sj/echo/", json={"id": "8"}, headers=bearer(access)).status_code == 400
    stats = server.stats()
    assert stats["writes"] == {"7": 2}
    assert stats["writes_by_kind"] == {"sj": {"7": 2}}
    assert stats["echoes"]["sj"] == {"total": 4, "status": {"200": 2, "401": 1, "400": 1}}


def test_issued_lets_a_second_client_replay_the_current_token(server, http):
    page = sj_sign_in(http)
    stolen = server.stats()["issued"]["sj"]
    assert stolen == page["refresh"]
    with httpx.Client(base_url=server.origin) as other:
        assert sj_refresh(other, stolen).status_code == 200
    assert sj_refresh(http, page["refresh"]).json() == BLACKLISTED  # the page now loses its refresh


# --- 2. dj-rest-auth: HttpOnly JWT cookies and Django's CSRF check ------------------------------


class CookieBrowser:
    """Sends the cookies itself: httpx's jar withholds Secure cookies over http, Chromium does not."""

    def __init__(self, server):
        self.client = httpx.Client(base_url=server.origin, timeout=10)
        self.jar = {}

    def set_cookies(self, response):
        """{name: {"value": ..., attribute (lower case): value or True}} from the Set-Cookie headers."""
        out = {}
        for line in response.headers.get_list("set-cookie"):
            first, *attributes = [part.strip() for part in line.split(";")]
            name, _, value = first.partition("=")
            attrs = {"value": value}
            for attribute in attributes:
                key, sep, val = attribute.partition("=")
                attrs[key.strip().lower()] = val.strip() if sep else True
            out[name] = attrs
        return out

    def send(self, method, path, *, csrf=False, origin=PAGE, cookies=None, **kwargs):
        jar = self.jar if cookies is None else cookies
        headers = {"Origin": origin} if origin else {}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if csrf:
            headers["X-CSRFToken"] = self.jar["csrftoken"]
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.client.cookies.clear()  # this class's jar is the only one
        for name, attrs in self.set_cookies(response).items():
            if attrs.get("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = attrs["value"]
        return response

    def login(self):
        response = self.send("POST", "/dra/login/", json=DEMO)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def browser(server):
    b = CookieBrowser(server)
    yield b
    b.client.close()


def test_dra_login_sets_httponly_cookies_and_a_readable_csrftoken(server, browser):
    response = browser.login()
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["refresh"] == ""  # HttpOnly: the refresh token is only in its cookie
    assert body["user"] == {"pk": 1, "username": "demo", "email": "", "first_name": "", "last_name": ""}
    cookies = browser.set_cookies(response)
    assert set(cookies) == {"jwt-access", "jwt-refresh", "csrftoken"}
    for name, max_age in (("jwt-access", "300"), ("jwt-refresh", "86400")):
        c = cookies[name]
        assert (c["httponly"], c["secure"], c["samesite"], c["path"], c["max-age"]) == (True, True, "Lax", "/", max_age)
    assert cookies["jwt-access"]["value"] == body["access"]
    assert "httponly" not in cookies["csrftoken"] and cookies["csrftoken"]["samesite"] == "Lax"
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-credentials"] == "true"
    assert server.stats()["issued"]["dra"] == cookies["jwt-refresh"]["value"]


def test_dra_csrf_guards_unsafe_calls(server, browser):
    browser.login()
    user = browser.send("GET", "/dra/user/")  # safe method: no CSRF header needed
    assert (user.status_code, user.json()["username"]) == (200, "demo")
    missing = browser.send("POST", "/dra/echo/", json={"id": 1})
    assert (missing.status_code, missing.json()) == (403, {"detail": "CSRF Failed: CSRF token missing."})
    evil = browser.send("POST", "/dra/echo/", json={"id": 1}, csrf=True, origin="http://evil.example")
    assert evil.status_code == 403
    assert evil.json() == {
        "detail": "CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."
    }
    ok = browser.send("POST", "/dra/echo/", json={"id": 1}, csrf=True)
    assert (ok.status_code, ok.json()) == (200, {"id": 1})
    stats = server.stats()
    assert stats["writes"] == {"1": 1}
    assert stats["echoes"]["dra"] == {"total": 3, "status": {"403": 2, "200": 1}}


def test_dra_expire_refresh_and_rotation(server, browser):
    browser.login()
    old = browser.jar["jwt-refresh"]
    server.expire()
    expired = browser.send("GET", "/dra/user/")
    assert (expired.status_code, expired.json()) == (401, EXPIRED)

    refreshed = browser.send("POST", "/dra/token/refresh/")  # dj-rest-auth's refresh view checks no CSRF
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert set(body) == {"access", "access_expiration"}  # refresh: only in the cookie (HttpOnly)
    new = browser.jar["jwt-refresh"]
    assert new != old and browser.jar["jwt-access"] == body["access"]
    assert browser.send("GET", "/dra/user/").status_code == 200

    replay = browser.send("POST", "/dra/token/refresh/", cookies={"jwt-refresh": old})
    assert (replay.status_code, replay.json()) == (401, BLACKLISTED)
    assert server.stats()["refresh"] == [
        {"kind": "dra", "status": 200, "token": sha(old), "issued": sha(new)},
        {"kind": "dra", "status": 401, "token": sha(old), "issued": None},
    ]
    assert server.stats()["gets"]["dra"] == {"total": 2, "status": {"401": 1, "200": 1}}


def test_dra_refresh_without_cookie(server, browser):
    answer = browser.send("POST", "/dra/token/refresh/")
    assert (answer.status_code, answer.json()) == (401, {"detail": "No valid refresh token found.", "code": "token_not_valid"})
    assert server.stats()["refresh"] == [{"kind": "dra", "status": 401, "token": None, "issued": None}]


def test_dra_logout_blacklists_and_clears_cookies(server, browser):
    browser.login()
    refresh = browser.jar["jwt-refresh"]
    out = browser.send("POST", "/dra/logout/", csrf=True)
    assert (out.status_code, out.json()) == (200, {"detail": "Successfully logged out."})
    cleared = browser.set_cookies(out)
    assert {name: c["max-age"] for name, c in cleared.items()} == {"jwt-access": "0", "jwt-refresh": "0"}
    assert "jwt-access" not in browser.jar and "jwt-refresh" not in browser.jar
    again = browser.send("POST", "/dra/token/refresh/", cookies={"jwt-refresh": refresh})
    assert (again.status_code, again.json()) == (401, BLACKLISTED)


def test_dra_stale_access_cookie_fails_login_and_logout(server, browser):
    """dj-rest-auth's documented setup authenticates its own login/logout views too (see its issues
    #150, #515): an access cookie that no longer validates makes them answer 401 until a refresh."""
    browser.login()
    server.expire()
    login = browser.send("POST", "/dra/login/", json=DEMO, csrf=True)
    assert (login.status_code, login.json()) == (401, EXPIRED)
    logout = browser.send("POST", "/dra/logout/", csrf=True)
    assert (logout.status_code, logout.json()) == (401, EXPIRED)
    assert browser.send("POST", "/dra/token/refresh/").status_code == 200
    assert browser.send("POST", "/dra/logout/", csrf=True).status_code == 200


# --- 3. django-oauth-toolkit: password grant, rotation with reuse protection --------------------


def oauth_token(http, **fields):
    return http.post("/o/token/", data={"client_id": CLIENT_ID, **fields})


def oauth_sign_in(http):
    response = oauth_token(http, grant_type="password", **DEMO)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert (body["expires_in"], body["token_type"], body["scope"]) == (300, "Bearer", "read write")
    return body


def oauth_refresh(http, token):
    return oauth_token(http, grant_type="refresh_token", refresh_token=token)


def test_oauth_profile_expire_refresh_and_reuse_protection(server, http):
    first = oauth_sign_in(http)
    assert server.stats()["issued"]["oauth"] == first["refresh_token"]
    profile = http.get("/oauth/profile/", headers=bearer(first["access_token"]))
    assert (profile.status_code, profile.json()) == (200, {"username": "demo"})

    assert server.expire()["oauth_access_tokens"] >= 1
    expired = http.get("/oauth/profile/", headers=bearer(first["access_token"]))
    assert (expired.status_code, expired.json()) == (401, NO_CREDENTIALS)
    assert expired.headers["www-authenticate"] == (
        'Bearer realm="api",error="invalid_token",error_description="The access token has expired."'
    )

    rotated = oauth_refresh(http, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"] and second["expires_in"] == 300
    assert http.get("/oauth/profile/", headers=bearer(second["access_token"])).status_code == 200

    replay = oauth_refresh(http, first["refresh_token"])
    assert (replay.status_code, replay.json()) == (400, {"error": "invalid_grant"})
    # Reuse protection: the whole family is revoked, the newer pair with it.
    newer = oauth_refresh(http, second["refresh_token"])
    assert (newer.status_code, newer.json()) == (400, {"error": "invalid_grant"})
    gone = http.get("/oauth/profile/", headers=bearer(second["access_token"]))
    assert gone.status_code == 401
    assert 'error_description="The access token is invalid."' in gone.headers["www-authenticate"]

    stats = server.stats()
    assert stats["refresh"] == [  # the password grant on /o/token/ is not a refresh call
        {"kind": "oauth", "status": 200, "token": sha(first["refresh_token"]), "issued": sha(second["refresh_token"])},
        {"kind": "oauth", "status": 400, "token": sha(first["refresh_token"]), "issued": None},
        {"kind": "oauth", "status": 400, "token": sha(second["refresh_token"]), "issued": None},
    ]
    assert stats["gets"]["oauth"] == {"total": 4, "status": {"200": 2, "401": 2}}


def test_oauth_errors_revoke_and_echo(server, http):
    wrong = oauth_token(http, grant_type="password", username="demo", password="nope")
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant", "error_description": "Invalid credentials given."})
    no_client = http.post("/o/token/", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert (no_client.status_code, no_client.json()) == (401, {"error": "invalid_client"})

    pair = oauth_sign_in(http)
    for _ in range(2):
        answer = http.post("/oauth/echo/", json={"id": 5}, headers=bearer(pair["access_token"]))
        assert (answer.status_code, answer.json()) == (200, {"id": 5})
    assert server.stats()["writes"] == {"5": 2}

    revoked = http.post("/o/revoke_token/", data={"token": pair["refresh_token"], "client_id": CLIENT_ID})
    assert revoked.status_code == 200
    assert oauth_refresh(http, pair["refresh_token"]).json() == {"error": "invalid_grant"}
    assert http.get("/oauth/profile/", headers=bearer(pair["access_token"])).status_code == 401


# --- CORS and the harness ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sj/token/refresh/", "/sj/profile/", "/dra/token/refresh/", "/dra/echo/", "/o/token/", "/oauth/profile/"])
def test_cors_preflight_from_the_page(http, path):
    answer = http.options(
        path,
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-csrftoken",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == PAGE
    assert answer.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-csrftoken"} <= allowed


def test_cors_refuses_other_origins(http):
    answer = http.options(
        "/sj/token/", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in answer.headers


def test_reset_clears_counters_but_not_tokens(server, http):
    pair = sj_sign_in(http)
    http.post("/sj/echo/", json={"id": 3}, headers=bearer(pair["access"]))
    sj_refresh(http, pair["refresh"])
    server.reset()
    stats = server.stats()
    assert (stats["refresh"], stats["writes"], stats["gets"], stats["echoes"]) == ([], {}, {}, {})
    assert stats["issued"]["sj"]  # the last issued token stays, and still works
    assert sj_refresh(http, stats["issued"]["sj"]).status_code == 200


def test_concurrent_calls_do_not_fail(server, http):
    """The page sends bursts; SQLite under threads must not answer 500 ("database is locked")."""
    import concurrent.futures

    pair = sj_sign_in(http)
    oauth = oauth_sign_in(http)

    def call(i):
        with httpx.Client(base_url=server.origin, timeout=20) as c:
            if i % 3 == 0:
                return c.post("/sj/echo/", json={"id": 100 + i}, headers=bearer(pair["access"])).status_code
            if i % 3 == 1:
                return c.post("/oauth/echo/", json={"id": 100 + i}, headers=bearer(oauth["access_token"])).status_code
            return sj_sign_in(c) and 200

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(48)))
    assert statuses == [200] * 48
    assert len(server.stats()["writes"]) == 32
