"""Every API route, as a client of the Express tutorial backend would call it."""

import hashlib

import pytest

LOGIN = "/api/v1/users/login"
REFRESH = "/api/v1/users/refresh-token"
LOGOUT = "/api/v1/users/logout"
DEMO = {"_id": "u-demo", "username": "demo", "email": "demo@example.com", "fullName": "Demo User"}


# -- login -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "demo@example.com"])
def test_login_by_username_or_email_sets_cookies_and_answers_user_and_token(stub, envelope, name):
    key = "email" if "@" in name else "username"
    response = stub.client.post(LOGIN, json={key: name, "password": "demo"})

    body = envelope(response, 200)
    assert body["data"]["user"] == DEMO
    assert body["data"]["expiresIn"] == 60
    assert set(stub.set_cookies(response)) == {"accessToken", "refreshToken", "csrf_token"}
    # Bearer mode uses the body's token; it must be the live one the cookie carries.
    assert body["data"]["accessToken"] == stub.cookie("accessToken")
    assert stub.me(token=body["data"]["accessToken"]).status_code == 200
    assert stub.stats()["logins"] == 1


def test_login_body_never_carries_the_refresh_token(stub):
    response = stub.login()
    refresh_token = stub.set_cookies(response)["refreshToken"][0]
    assert refresh_token and refresh_token not in response.text


def test_login_expires_in_follows_access_ttl(make_stub):
    stub = make_stub(access_ttl=5)
    assert stub.login().json()["data"]["expiresIn"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"username": "demo", "password": "wrong"},
        {"email": "demo@example.com", "password": "wrong"},
        {"username": "nobody", "password": "demo"},
        {"email": "nobody@example.com", "password": "demo"},
        {"username": "Demo", "password": "demo"},
    ],
)
def test_bad_credentials_are_401_without_cookies(stub, envelope, body):
    response = stub.client.post(LOGIN, json=body)
    envelope(response, 401)
    assert stub.set_cookies(response) == {}
    assert stub.stats()["logins"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "demo"},
        {"password": "demo"},
        {"username": "demo", "password": 1},
        {"username": ["demo"], "password": "demo"},
    ],
)
def test_login_without_name_or_password_is_400(stub, envelope, body):
    envelope(stub.client.post(LOGIN, json=body), 400)


# -- current-user and profile --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/users/current-user", "/api/v1/users/profile"])
def test_current_user_and_profile_with_the_access_cookie(stub, envelope, path):
    stub.login()
    body = envelope(stub.client.get(path), 200)
    assert body["data"] == DEMO


@pytest.mark.parametrize("path", ["/api/v1/users/current-user", "/api/v1/users/profile"])
def test_current_user_and_profile_with_a_bearer_token_and_no_cookies(stub, envelope, path):
    token = stub.login().json()["data"]["accessToken"]
    stub.client.cookies.clear()
    body = envelope(stub.client.get(path, headers={"Authorization": f"Bearer {token}"}), 200)
    assert body["data"] == DEMO


@pytest.mark.parametrize("path", ["/api/v1/users/current-user", "/api/v1/users/profile"])
def test_current_user_and_profile_without_a_token_are_401(stub, envelope, path):
    response = stub.client.get(path)
    envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


# -- refresh-token -------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(stub, envelope):
    login = stub.login()
    old_refresh = stub.cookie("refreshToken")
    old_access = login.json()["data"]["accessToken"]

    response = stub.refresh()

    body = envelope(response, 200)
    new_access = body["data"]["accessToken"]
    assert body["data"]["expiresIn"] == 60
    assert new_access != old_access
    cookies = stub.set_cookies(response)
    assert cookies["accessToken"][0] == new_access
    assert cookies["refreshToken"][0] not in ("", old_refresh)
    assert cookies["refreshToken"][0] not in response.text
    assert stub.me(token=new_access).status_code == 200
    stats = stub.stats()
    assert (stats["refresh_calls"], stats["rotations"]) == (1, 1)


def test_a_chain_of_refreshes_each_uses_the_latest_token(stub):
    stub.login()
    seen = {stub.cookie("refreshToken")}
    for _ in range(5):
        assert stub.refresh().status_code == 200
        seen.add(stub.cookie("refreshToken"))
    assert len(seen) == 6
    assert stub.stats()["rotations"] == 5
    assert stub.me().status_code == 200


def test_refresh_without_a_refresh_cookie_is_401(stub, envelope):
    stub.login()
    response = stub.refresh(cookies={"csrf_token": stub.csrf})
    envelope(response, 401)
    assert stub.stats()["rotations"] == 0


# -- logout --------------------------------------------------------------------------------------


def _assert_cleared(stub, response):
    cookies = stub.set_cookies(response)
    # A browser deletes a cookie only when name, Path (and Domain) match the ones it was set with.
    expected_paths = {"accessToken": "/", "refreshToken": "/api/v1/users", "csrf_token": "/"}
    assert {name: attrs["path"] for name, (_, attrs) in cookies.items()} == expected_paths
    for name, (value, attrs) in cookies.items():
        assert value in ("", '""'), name
        assert attrs["max-age"] == "0", name
        assert "domain" not in attrs
    assert stub.client.cookies.get("refreshToken") is None
    assert stub.client.cookies.get("accessToken") is None


def test_logout_revokes_the_family_and_clears_both_cookies(stub, envelope):
    access = stub.login().json()["data"]["accessToken"]
    refresh_token = stub.cookie("refreshToken")
    csrf = stub.csrf

    response = stub.logout()

    envelope(response, 200)
    _assert_cleared(stub, response)
    assert stub.me(token=access).status_code == 401
    replay = stub.send("POST", REFRESH, cookies={"refreshToken": refresh_token, "csrf_token": csrf})
    assert replay.status_code == 401
    assert stub.stats()["revocations"] == 1
    assert stub.stats()["rotations"] == 0


def test_logout_works_when_the_access_token_has_expired(stub, envelope):
    stub.login()
    refresh_token = stub.cookie("refreshToken")
    csrf = stub.csrf
    stub.set_clock(61)  # past the 60 s access TTL
    assert stub.me().status_code == 401

    response = stub.logout()

    envelope(response, 200)
    _assert_cleared(stub, response)
    replay = stub.send("POST", REFRESH, cookies={"refreshToken": refresh_token, "csrf_token": csrf})
    assert replay.status_code == 401
    assert stub.stats()["revocations"] == 1


def test_logout_with_only_an_expired_bearer_token_still_revokes_the_family(stub, envelope):
    access = stub.login().json()["data"]["accessToken"]
    refresh_token = stub.cookie("refreshToken")
    csrf = stub.csrf
    stub.set_clock(3600)

    response = stub.send("POST", LOGOUT, cookies={"csrf_token": csrf}, headers={"Authorization": f"Bearer {access}"})

    envelope(response, 200)
    assert stub.stats()["revocations"] == 1
    replay = stub.send("POST", REFRESH, cookies={"refreshToken": refresh_token, "csrf_token": csrf})
    assert replay.status_code == 401


def test_logout_revokes_only_its_own_family(stub):
    other = stub.another_browser()
    stub.login()
    other.login()

    assert stub.logout().status_code == 200

    assert other.me().status_code == 200
    assert other.refresh().status_code == 200
    assert stub.stats()["revocations"] == 1


# -- echo ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_echo_answers_method_headers_length_and_sha256(stub, envelope, method):
    stub.login()
    payload = b"\x00hello\xffworld" * 100
    headers = {"Content-Type": "application/octet-stream", "X-Request-Id": "req-1"}
    response = stub.send(method, "/api/v1/echo", content=payload, headers=headers)

    data = envelope(response, 200)["data"]
    assert data == {
        "method": method,
        "headers": {"Content-Type": "application/octet-stream", "X-Request-Id": "req-1", "X-CSRF-Token": stub.csrf},
        "length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "handled": 1,
    }


def test_echo_counts_how_often_each_request_id_was_handled(stub):
    stub.login()
    handled = [
        stub.send("POST", "/api/v1/echo", headers={"X-Request-Id": request_id}).json()["data"]["handled"]
        for request_id in "aabab"
    ]
    assert handled == [1, 2, 1, 3, 2]
    assert stub.stats()["request_ids"] == {"a": 3, "b": 2}


def test_echo_without_request_id_or_body(stub):
    stub.login()
    data = stub.send("POST", "/api/v1/echo").json()["data"]
    assert data["handled"] == 0
    assert data["length"] == 0
    assert data["sha256"] == hashlib.sha256(b"").hexdigest()
    assert "X-Request-Id" not in data["headers"]
    assert stub.stats()["request_ids"] == {}


def test_echo_accepts_a_bearer_token(stub, envelope):
    token = stub.login().json()["data"]["accessToken"]
    csrf = stub.csrf
    response = stub.send(
        "POST", "/api/v1/echo", cookies={"csrf_token": csrf}, headers={"Authorization": f"Bearer {token}"}, content=b"x"
    )
    assert envelope(response, 200)["data"]["length"] == 1


def test_unauthenticated_echo_is_401_and_not_counted_as_handled(stub, envelope):
    stub.login()
    csrf = stub.csrf
    response = stub.send("POST", "/api/v1/echo", cookies={"csrf_token": csrf}, headers={"X-Request-Id": "r"})
    envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert stub.stats()["request_ids"] == {}


def test_echo_accepts_exactly_one_mebibyte(stub):
    stub.login()
    payload = b"a" * (1024 * 1024)
    data = stub.send("POST", "/api/v1/echo", content=payload).json()["data"]
    assert data["length"] == len(payload)
    assert data["sha256"] == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("path", ["/", "/index.html", "/vendor/pyscript/core.js", "/api/v1/users/profile"])
def test_pages_and_api_are_cross_origin_isolated_so_pyscript_workers_reach_the_page(stub, path):
    response = stub.client.get(path)
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"
    assert response.headers["cross-origin-resource-policy"] == "same-site"


def test_isolation_can_be_turned_off(make_stub):
    response = make_stub(isolation=False).client.get("/")
    assert response.status_code == 200
    assert "cross-origin-embedder-policy" not in response.headers
