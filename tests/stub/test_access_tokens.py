"""Access token checks and the WWW-Authenticate challenge a client keys its refresh on.

Forged tokens are signed with the stub's real secret wherever possible, so each one is rejected
for the one thing it gets wrong (algorithm, kid, jku, type), not for a bad signature.
"""

import secrets

import jwt
import pytest

INVALID = 'Bearer error="invalid_token"'


def _parts(token):
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _forge(stub, token, *, key=None, algorithm="HS256", header=None, claims=None):
    original_header, original_claims = _parts(token)
    headers = {"kid": original_header["kid"], **(header or {})}
    payload = {**original_claims, **(claims or {})}
    return jwt.encode(payload, stub.state.access._secret if key is None else key, algorithm=algorithm, headers=headers)


@pytest.fixture
def token(stub):
    return stub.login().json()["data"]["accessToken"]


def _assert_rejected(stub, token, envelope):
    for response in (stub.me(token=token), _with_cookie(stub, token)):
        envelope(response, 401)
        assert response.headers["www-authenticate"] == INVALID


def _with_cookie(stub, token):
    return stub.send("GET", "/api/v1/users/current-user", cookies={"accessToken": token})


def test_the_genuine_token_passes_both_ways(stub, token, envelope):
    envelope(stub.me(token=token), 200)
    envelope(_with_cookie(stub, token), 200)
    # The forging helper itself makes acceptable tokens: the rejections below are about one change.
    envelope(stub.me(token=_forge(stub, token)), 200)


def test_access_token_is_hs256_with_a_kid_and_an_exp(token):
    header, claims = _parts(token)
    assert header["alg"] == "HS256"
    assert header["kid"]
    assert claims["exp"] - claims["iat"] == 60


def test_alg_none_is_rejected(stub, token, envelope):
    header, claims = _parts(token)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})
    _assert_rejected(stub, unsigned, envelope)


@pytest.mark.filterwarnings("ignore:The HMAC key")  # the short key is the point: it is the stub's own
def test_another_hmac_algorithm_is_rejected_even_with_the_right_key(stub, token, envelope):
    _assert_rejected(stub, _forge(stub, token, algorithm="HS512"), envelope)


def test_a_bad_signature_is_rejected(stub, token, envelope):
    _assert_rejected(stub, _forge(stub, token, key=secrets.token_bytes(32)), envelope)


def test_a_tampered_payload_is_rejected(stub, token, envelope):
    head, _, signature = token.split(".")
    _, claims = _parts(token)
    other = jwt.encode({**claims, "sub": "admin"}, secrets.token_bytes(32), algorithm="HS256")
    _assert_rejected(stub, f"{head}.{other.split('.')[1]}.{signature}", envelope)


def test_a_foreign_kid_is_rejected(stub, token, envelope):
    _assert_rejected(stub, _forge(stub, token, header={"kid": "someone-else"}), envelope)


def test_a_missing_kid_is_rejected(stub, token, envelope):
    _, claims = _parts(token)
    _assert_rejected(stub, jwt.encode(claims, stub.state.access._secret, algorithm="HS256"), envelope)


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_key_url_headers_are_rejected(stub, token, envelope, name):
    _assert_rejected(stub, _forge(stub, token, header={name: "https://attacker.example/keys"}), envelope)


def test_a_token_of_another_type_is_rejected(stub, token, envelope):
    _assert_rejected(stub, _forge(stub, token, claims={"typ": "refresh"}), envelope)


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "e30.e30.", "W10.e30.c2ln"])
def test_garbage_tokens_are_rejected(stub, envelope, garbage):
    _assert_rejected(stub, garbage, envelope)


def test_the_token_expires_after_access_ttl(stub, token, envelope):
    stub.set_clock(55)
    envelope(stub.me(token=token), 200)
    stub.set_clock(61)
    _assert_rejected(stub, token, envelope)


def test_expire_control_rejects_every_token_issued_so_far(stub, token, envelope):
    other = stub.another_browser()
    other_token = other.login().json()["data"]["accessToken"]

    envelope(stub.client.post("/__stub__/expire"), 200)

    _assert_rejected(stub, token, envelope)
    _assert_rejected(stub, other_token, envelope)
    # The refresh token is untouched: the client recovers with one refresh.
    fresh = stub.refresh().json()["data"]["accessToken"]
    envelope(stub.me(token=fresh), 200)
    envelope(stub.me(), 200)


def test_a_token_of_a_logged_out_session_is_rejected(stub, token, envelope):
    stub.logout()
    _assert_rejected(stub, token, envelope)


def test_no_token_gets_a_plain_bearer_challenge(stub, envelope):
    response = stub.client.get("/api/v1/users/current-user")
    envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_non_bearer_authorization_header_counts_as_no_token(stub, envelope):
    response = stub.client.get("/api/v1/users/current-user", headers={"Authorization": "Basic ZGVtbzpkZW1v"})
    envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_challenge_is_on_every_authenticated_route(stub, token, envelope):
    stub.set_clock(61)
    for method, path in [
        ("GET", "/api/v1/users/current-user"),
        ("GET", "/api/v1/users/profile"),
        ("POST", "/api/v1/echo"),
    ]:
        response = stub.send(method, path)
        envelope(response, 401)
        assert response.headers["www-authenticate"] == INVALID, path
