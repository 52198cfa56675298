"""Cookie attributes and CSRF: what keeps the tokens out of JavaScript's and other sites' reach."""

import pytest

REFRESH = "/api/v1/users/refresh-token"
LOGOUT = "/api/v1/users/logout"


# -- cookie attributes ---------------------------------------------------------------------------


@pytest.fixture(params=["login", "refresh"])
def session_response(request, stub):
    response = stub.login()
    if request.param == "refresh":
        response = stub.refresh()
        assert response.status_code == 200
    return response


def test_session_cookies_are_secure_strict_and_host_only(stub, session_response):
    cookies = stub.set_cookies(session_response)
    assert set(cookies) == {"accessToken", "refreshToken", "csrf_token"}
    for name, (value, attrs) in cookies.items():
        assert value, name
        assert attrs.get("secure") is True, name
        assert str(attrs.get("samesite")).lower() == "strict", name
        assert "domain" not in attrs, name


def test_token_cookies_are_httponly_and_the_csrf_cookie_is_readable(stub, session_response):
    cookies = stub.set_cookies(session_response)
    assert cookies["accessToken"][1].get("httponly") is True
    assert cookies["refreshToken"][1].get("httponly") is True
    # The page copies this one into X-CSRF-Token, so JavaScript must be able to read it.
    assert "httponly" not in cookies["csrf_token"][1]


def test_refresh_cookie_path_is_narrowed_to_the_users_routes(stub, session_response):
    cookies = stub.set_cookies(session_response)
    assert cookies["refreshToken"][1]["path"] == "/api/v1/users"
    assert cookies["accessToken"][1]["path"] == "/"
    assert cookies["csrf_token"][1]["path"] == "/"


def test_a_cookie_jar_sends_the_refresh_cookie_to_refresh_and_logout_not_the_rest_of_the_api(stub):
    sent = {}
    def record(request):
        sent[request.url.path] = request.headers.get("cookie", "")

    stub.client.event_hooks["request"] = [record]
    stub.login()
    for method, path in [("GET", "/api/v1/users/current-user"), ("POST", "/api/v1/echo"), ("POST", REFRESH)]:
        assert stub.send(method, path).status_code == 200, path
    assert stub.logout().status_code == 200

    # current-user shares the /api/v1/users prefix (one Path cannot exclude it); the rest of the API
    # and the app's pages never see the refresh token.
    assert "refreshToken=" not in sent["/api/v1/echo"]
    assert "accessToken=" in sent["/api/v1/echo"]
    assert "refreshToken=" in sent[REFRESH]
    assert "refreshToken=" in sent[LOGOUT]


# -- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", REFRESH),
        ("POST", LOGOUT),
        ("POST", "/api/v1/echo"),
        ("PUT", "/api/v1/echo"),
        ("PATCH", "/api/v1/echo"),
        ("DELETE", "/api/v1/echo"),
    ],
)
def test_unsafe_methods_without_the_csrf_header_are_403_and_do_nothing(stub, envelope, method, path):
    stub.login()

    envelope(stub.send(method, path, csrf=False, headers={"X-Request-Id": "x"}), 403)

    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"], stats["revocations"]) == (0, 0, 0)
    assert stats["request_ids"] == {}
    assert stub.me().status_code == 200  # the session survived
    assert stub.send(method, path).status_code == 200  # and the same call with the header works


def test_a_csrf_header_that_differs_from_the_cookie_is_403(stub, envelope):
    stub.login()
    other = stub.state.csrf.issue()  # validly signed, but not this browser's cookie
    envelope(stub.send("POST", REFRESH, csrf=other), 403)
    assert stub.stats()["refresh_calls"] == 0


def test_a_csrf_header_without_the_cookie_is_403(stub, envelope):
    stub.login()
    cookies = {"refreshToken": stub.cookie("refreshToken"), "accessToken": stub.cookie("accessToken")}
    envelope(stub.send("POST", REFRESH, cookies=cookies, csrf=stub.csrf), 403)


def test_a_forged_csrf_pair_is_403(stub, envelope):
    """Signed double submit: an attacker able to plant a cookie still cannot mint a valid value."""
    stub.login()
    forged = "attacker-nonce.0000"
    cookies = {"refreshToken": stub.cookie("refreshToken"), "csrf_token": forged}
    envelope(stub.send("POST", REFRESH, cookies=cookies, csrf=forged), 403)


@pytest.mark.parametrize("csrf", [True, False])
def test_cross_site_requests_are_403_whatever_the_csrf_setting(make_stub, envelope, csrf):
    stub = make_stub(csrf=csrf)
    stub.login()
    cross = {"Sec-Fetch-Site": "cross-site"}

    envelope(stub.send("POST", REFRESH, headers=cross), 403)
    envelope(stub.send("POST", LOGOUT, headers=cross), 403)
    envelope(stub.client.post("/api/v1/users/login", json={"username": "demo", "password": "demo"}, headers=cross), 403)

    stats = stub.stats()
    assert (stats["refresh_calls"], stats["revocations"], stats["logins"]) == (0, 0, 1)


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
def test_same_site_fetch_metadata_is_allowed(stub, site):
    stub.login()
    assert stub.send("POST", REFRESH, headers={"Sec-Fetch-Site": site}).status_code == 200


def test_login_needs_no_csrf_token(stub, envelope):
    envelope(stub.client.post("/api/v1/users/login", json={"username": "demo", "password": "demo"}), 200)


def test_safe_methods_need_no_csrf_token(stub):
    stub.login()
    assert stub.send("GET", "/api/v1/users/current-user", csrf=False).status_code == 200


def test_csrf_off_lets_unsafe_methods_through_without_the_header(make_stub, envelope):
    stub = make_stub(csrf=False)
    stub.login()
    envelope(stub.send("POST", "/api/v1/echo", csrf=False), 200)
    envelope(stub.send("POST", REFRESH, csrf=False), 200)
    envelope(stub.send("POST", LOGOUT, csrf=False), 200)
    assert stub.stats()["revocations"] == 1


def test_the_csrf_value_rotates_on_refresh_and_the_new_one_is_required(stub, envelope):
    stub.login()
    old = stub.csrf

    response = stub.refresh()

    new = stub.set_cookies(response)["csrf_token"][0]
    assert new and new != old
    assert stub.csrf == new
    # The jar now holds the new cookie: a page that kept sending the old value is refused.
    envelope(stub.send("POST", "/api/v1/echo", csrf=old), 403)
    envelope(stub.send("POST", "/api/v1/echo", csrf=new), 200)


def test_each_login_gets_its_own_csrf_value(stub):
    values = set()
    for _ in range(3):
        stub.login()
        values.add(stub.csrf)
    assert len(values) == 3


def test_a_refresh_without_a_refresh_cookie_is_401_no_session_before_any_csrf_check(stub, envelope):
    # A first visit: no cookies at all, so no CSRF header either. It is "not signed in" (401),
    # not a CSRF refusal (403), and nothing is rotated or revoked.
    body = envelope(stub.send("POST", REFRESH, csrf=False), 401)
    assert body["message"] == "no_refresh_token"
    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"], stats["revocations"]) == (1, 0, 0)
    # With a refresh cookie, CSRF is checked first, as before.
    stub.login()
    envelope(stub.send("POST", REFRESH, csrf=False), 403)
