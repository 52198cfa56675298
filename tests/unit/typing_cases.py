"""What the stubs say the public API gives, in both senses: mypy checks each ``assert_type``
against the stubs (tests/unit/test_types.py), and the same code runs on CPython against the
modules with the fake transport, where ``given`` checks the value really is of that type.
stubtest compares signatures, not what unannotated code returns; these cases cover that.

A test module, never loaded in a page: it may import typing.
"""

from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar, assert_type

import authfetch
import authfetch.sync
from authfetch import (
    AuthClient,
    AuthFetchError,
    Event,
    Headers,
    HTTPStatusError,
    Request,
    Response,
    Server,
    UsageError,
)

_T = TypeVar("_T")


def given(value: _T, kind: type | tuple[type, ...]) -> _T:
    assert isinstance(value, kind), f"{value!r} is not {kind}"
    return value


async def cases(api: AuthClient) -> None:
    pending = assert_type(api.get("/users/profile"), Coroutine[Any, Any, Response])
    resp = given(await pending, Response)
    assert_type(resp, Response)
    assert_type(given(resp.status, int), int)
    assert_type(given(resp.ok, bool), bool)
    assert_type(given(resp.url, str), str)
    assert_type(given(resp.headers, Headers), Headers)
    assert_type(given(resp.headers.get("content-type"), str), str | None)
    assert_type(given(resp.headers.get("x-missing", ""), str), str)
    assert_type(given(resp.headers["content-type"], str), str)
    assert_type(given(resp.headers.items(), list), list[tuple[str, str]])
    assert_type(given(await resp.text(), str), str)
    assert_type(given(await resp.bytes(), bytes), bytes)
    assert_type(await resp.json(), Any)
    assert_type(given(resp.raise_for_status(), Response), Response)
    assert_type(given(resp.request, Request), Request | None)

    for made in (
        api.post("/things", json={"a": 1}),
        api.put("/things/1", body="text", headers={"X-Id": "1"}),
        api.patch("/things/1", body=b"bytes", timeout=5),
        api.delete("/things/1", auth=False),
        api.fetch("/things", method="OPTIONS", timeout=None),
        api.fetch("/things", method="post", body=b"once", once=True),
    ):
        assert_type(given(await assert_type(made, Coroutine[Any, Any, Response]), Response), Response)

    assert_type(given(await api.login("/users/login", json={"username": "demo"}), Response), Response)
    assert_type(given(await api.logout("/users/logout"), Response), Response)

    def listener(event: Event) -> None:
        assert_type(event.name, str)

    unsubscribe = api.on("refresh", listener)
    assert_type(unsubscribe, Callable[[], None])
    unsubscribe()
    api.on("*", lambda event: print(event.fields))()
    assert_type(given(api.stats, dict), dict[str, int | None])
    assert_type(given(api.generation, int), int)

    failed = await api.get("/missing")
    try:
        failed.raise_for_status()
    except HTTPStatusError as error:
        assert_type(given(error, AuthFetchError), HTTPStatusError)
        assert_type(given(error.response, Response), Response | None)
        assert_type(given(error.request, Request), Request | None)
        assert_type(given(error.message, str), str)
    else:
        raise AssertionError("a 404 raised nothing")

    assert_type(given(Server.preset("oauth2", client_id="spa"), Server), Server)
    server = Server(refresh_token="body", encoding="form", ended_words="expired")
    assert_type(given(server.ended_words, tuple), tuple[str, ...])
    assert_type(given(server.mode, str), Literal["cookie", "bearer"])
    assert_type(given(server.in_body, bool), bool)
    assert_type(given(server.refresh_body("token"), tuple), tuple[str, str])
    assert_type(given(server.words({"code": "expired"}), str), Literal["ended", "no-session"] | None)
    assert_type(given(Headers({"A": "1"}).copy(), Headers), Headers)
    assert_type(given(authfetch.__version__, str), str)

    try:
        authfetch.sync.install(api)  # CPython has no pyodide-http: it says so
    except UsageError as error:
        assert_type(error, UsageError)
    else:
        raise AssertionError("authfetch.sync.install raised nothing on CPython")
    load: Callable[[str], Coroutine[Any, Any, list[str]]] = authfetch.sync.load
    install: Callable[[AuthClient], Callable[..., Any]] = authfetch.sync.install
    assert callable(load) and callable(install)

    api.close()
