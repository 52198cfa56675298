"""Bad input gets a clear 4xx in the envelope, never a 500 or a hang.

TestClient re-raises server exceptions, so a 500 here fails the test with its traceback.
"""

import pytest

LOGIN = "/api/v1/users/login"
REFRESH = "/api/v1/users/refresh-token"
MIB = 1024 * 1024


@pytest.mark.parametrize(
    "content",
    [
        b'{"username": "demo", "password": ',
        b"",
        b"not json",
        b'{"username": "demo", "password": "demo"} trailing',
        b'{"username": "d\xffmo", "password": "demo"}',  # not UTF-8
        b'{"username": "demo", "password": "demo", "n": NaN}',  # not JSON, though Python reads it
        b'{"username": "demo", "password": "demo", "n": Infinity}',
        b'{"username": "demo", "password": "demo", "n": 1e999}',
        b'["demo", "demo"]',
        b'"demo"',
        b"null",
    ],
)
def test_malformed_or_non_object_json_is_400(stub, envelope, content):
    response = stub.client.post(LOGIN, content=content, headers={"Content-Type": "application/json"})
    envelope(response, 400)
    assert stub.stats()["logins"] == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx"]
)
def test_wrong_content_type_is_415(stub, envelope, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = stub.client.post(LOGIN, content=b'{"username": "demo", "password": "demo"}', headers=headers)
    envelope(response, 415)
    assert stub.stats()["logins"] == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_with_parameters_or_other_case_is_accepted(stub, envelope, content_type):
    body = b'{"username": "demo", "password": "demo"}'
    envelope(stub.client.post(LOGIN, content=body, headers={"Content-Type": content_type}), 200)


def test_a_json_body_over_one_mebibyte_is_413(stub, envelope):
    filler = "x" * MIB
    response = stub.client.post(LOGIN, json={"username": "demo", "password": "demo", "filler": filler})
    envelope(response, 413)
    assert stub.stats()["logins"] == 0


def test_a_streamed_body_over_one_mebibyte_without_content_length_is_413(stub, envelope):
    stub.login()
    chunks = [b"a" * 65536] * 16 + [b"b"]  # 1 MiB + 1, sent chunked

    response = stub.send("POST", "/api/v1/echo", content=iter(chunks), headers={"X-Request-Id": "big"})

    envelope(response, 413)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert stub.stats()["request_ids"] == {}


def test_an_echo_body_over_one_mebibyte_is_413(stub, envelope):
    stub.login()
    envelope(stub.send("POST", "/api/v1/echo", content=b"a" * (MIB + 1)), 413)


def test_a_non_numeric_content_length_is_400(stub, envelope):
    stub.login()
    envelope(stub.send("POST", "/api/v1/echo", content=b"abc", headers={"Content-Length": "abc"}), 400)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v2/users/current-user"),
        ("GET", "/nope"),
        ("POST", "/api/v1/users/nope"),
        ("DELETE", "/api/v1/nope"),
        ("GET", "/__stub__/nope"),
    ],
)
def test_unknown_routes_are_404_with_the_envelope(stub, envelope, method, path):
    stub.login()  # with a valid CSRF pair, so an unsafe method gets as far as routing
    envelope(stub.send(method, path), 404)


@pytest.mark.parametrize(
    "method, path",
    [("GET", LOGIN), ("GET", REFRESH), ("POST", "/api/v1/users/current-user"), ("GET", "/api/v1/echo")],
)
def test_wrong_methods_are_405_with_the_envelope(stub, envelope, method, path):
    stub.login()
    envelope(stub.send(method, path), 405)


@pytest.mark.parametrize("garbage", ["garbage", "", "a" * 43, "x" * 5000, "%00%ff"])
def test_a_garbage_refresh_cookie_is_401_and_revokes_nothing(stub, envelope, garbage):
    stub.login()
    live_refresh = stub.cookie("refreshToken")

    envelope(stub.refresh(token=garbage), 401)

    stats = stub.stats()
    assert (stats["rotations"], stats["reuse_detected"], stats["revocations"]) == (0, 0, 0)
    # The real session is untouched.
    assert stub.me().status_code == 200
    assert stub.refresh(token=live_refresh).status_code == 200


def test_a_refresh_token_from_another_server_start_is_401_and_revokes_nothing(make_stub, envelope):
    before = make_stub()
    before.login()
    stale = before.cookie("refreshToken")
    after = make_stub()
    after.login()

    envelope(after.refresh(token=stale), 401)

    assert after.stats()["revocations"] == 0
    assert after.refresh().status_code == 200
