"""Fixtures for the stub backend's own tests: one fresh app per test, driven through TestClient.

The client talks to ``https://testserver`` because httpx sends ``Secure`` cookies over https only.
Time never passes by sleeping: tests move the stub's clock with ``/__stub__/clock``.
"""

import pytest
from starlette.testclient import TestClient

from server_stub import Settings, build_app

LOGIN = "/api/v1/users/login"
REFRESH = "/api/v1/users/refresh-token"
LOGOUT = "/api/v1/users/logout"
ENVELOPE_KEYS = {"statusCode", "data", "message", "success"}


class Stub:
    """One stub app, its live ``state`` (counters, clock, token stores) and a client bound to it."""

    def __init__(self, app=None, **settings):
        settings.setdefault("test_controls", True)
        self.app = app if app is not None else build_app(Settings(**settings))
        self.state = self.app.state
        self.client = TestClient(self.app, base_url="https://testserver")

    def another_browser(self):
        """A second client, with its own cookie jar, against the same server."""
        return Stub(app=self.app)

    # -- cookies ---------------------------------------------------------------------------------

    def cookie(self, name):
        """The value the client's jar holds for ``name`` (None when absent or cleared)."""
        return self.client.cookies.get(name)

    @property
    def csrf(self):
        return self.cookie("csrf_token")

    @staticmethod
    def set_cookies(response):
        """``{name: (value, {attribute (lower case): value or True})}`` from the Set-Cookie headers."""
        out = {}
        for line in response.headers.get_list("set-cookie"):
            first, *attributes = [part.strip() for part in line.split(";")]
            name, _, value = first.partition("=")
            attrs = {}
            for attribute in attributes:
                key, sep, val = attribute.partition("=")
                attrs[key.strip().lower()] = val.strip() if sep else True
            out[name] = (value, attrs)
        return out

    # -- requests --------------------------------------------------------------------------------

    def send(self, method, path, *, cookies=None, csrf=True, headers=None, **kwargs):
        """A request; ``cookies`` (a dict) replaces the jar's Cookie header, ``csrf`` adds the header.

        ``csrf=True`` copies the csrf_token cookie (from ``cookies`` or the jar) into X-CSRF-Token,
        as the page does; a string sends that string instead.
        """
        headers = dict(headers or {})
        if cookies is not None:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if csrf is True:
            value = cookies.get("csrf_token") if cookies is not None else self.csrf
            if value is not None:
                headers["X-CSRF-Token"] = value
        elif csrf:
            headers["X-CSRF-Token"] = csrf
        return self.client.request(method, path, headers=headers, **kwargs)

    def login(self, **body):
        body = body or {"username": "demo", "password": "demo"}
        response = self.client.post(LOGIN, json=body)
        assert response.status_code == 200, response.text
        return response

    def refresh(self, token=None, **kwargs):
        """POST refresh-token with the jar's cookies, or with ``token`` as the refresh cookie."""
        if token is not None:
            # A valid CSRF pair even after a 401 or logout cleared the jar: these tests are about the token.
            kwargs["cookies"] = {"refreshToken": token, "csrf_token": self.csrf or self.state.csrf.issue()}
        return self.send("POST", REFRESH, **kwargs)

    def logout(self, **kwargs):
        return self.send("POST", LOGOUT, **kwargs)

    def me(self, token=None):
        """GET current-user with the access cookie, or with ``token`` as a Bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.get("/api/v1/users/current-user", headers=headers)

    # -- test controls ---------------------------------------------------------------------------

    def stats(self):
        response = self.client.get("/__stub__/stats")
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def set_clock(self, offset_s):
        response = self.client.post("/__stub__/clock", json={"offset_s": offset_s})
        assert response.status_code == 200, response.text

    def queue_faults(self, *faults):
        response = self.client.post("/__stub__/faults", json={"refresh": list(faults)})
        assert response.status_code == 200, response.text


def assert_envelope(response, status, message=None):
    """The Express tutorial's envelope, with a status that matches the HTTP one."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["statusCode"] == status
    assert body["success"] is (status < 400)
    if message is not None:
        assert body["message"] == message
    if status >= 400:
        assert body["data"] is None
    return body


@pytest.fixture
def make_stub():
    made = []

    def make(**settings):
        stub = Stub(**settings)
        made.append(stub)
        return stub

    yield make
    for stub in made:
        stub.client.close()


@pytest.fixture
def stub(make_stub):
    """A stub with default settings and the test controls on."""
    return make_stub()


@pytest.fixture
def envelope():
    return assert_envelope
