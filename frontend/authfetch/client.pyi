# Type information for authfetch.client (PEP 561 stub; the runtime module stays plain Python,
# as MicroPython has no typing). tests/unit/test_types.py checks it against the module (stubtest).
#
# The verbs and fetch() are plain functions that hand back the coroutine of the request (no
# coroutine level of their own: each costs MicroPython microseconds), so they are typed as
# returning a Coroutine: `await api.get(...)` is a Response, and asyncio.create_task takes one.
# Defaults written `...` are sentinels at run time: `json` unset sends no JSON body (json=None
# sends `null`), `timeout` unset takes the client's timeout, and mode, token_field,
# csrf_cookie and csrf_header unset take what the server's description says.
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Literal, TypeAlias

from .events import Event, _EventName
from .models import Response
from .servers import _PresetName, Server

# str or bytes, or a browser FormData, Blob, URLSearchParams or ReadableStream (a JS object).
_Body: TypeAlias = str | bytes | bytearray | Any
_Method: TypeAlias = Literal[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    "get", "head", "post", "put", "patch", "delete", "options",
]

UNSEEN: dict[str, str]

class AuthClient:
    def __init__(
        self,
        base_url: str = "",
        *,
        refresh_url: str,
        allowed_origins: Iterable[str] = (),
        server: _PresetName | Server = "tutorial",
        mode: Literal["cookie", "bearer"] = ...,
        token_field: str = ...,
        csrf_cookie: str | None = ...,
        csrf_header: str | None = ...,
        refresh_token_storage: Literal["memory", "sessionStorage"] = "memory",
        refresh_on: Iterable[int] = (401,),
        no_refresh_for: Iterable[str] = (),
        login_url: str | None = None,
        logout_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        refresh_timeout: float = 10.0,
        refresh_retries: int = 3,
        leeway: float | None = 30.0,
        max_in_flight: int | Literal["auto"] | None = "auto",
        cross_tab: bool = True,
        lock_timeout: float = 10.0,
        share_token: bool = False,
        transport: Any = None,  # the browser's (None), or authfetch.testing.FakeTransport in tests
    ) -> None: ...
    def close(self) -> None: ...
    def fetch(
        self,
        url: str,
        *,
        method: _Method = "GET",
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
        once: bool = False,
    ) -> Coroutine[Any, Any, Response]: ...
    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...
    def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...
    def put(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...
    def patch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...
    def delete(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        json: Any = ...,
        timeout: float | None = ...,
        auth: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...
    async def login(
        self,
        url: str | None = None,
        *,
        json: Any = ...,
        body: _Body | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = ...,
    ) -> Response: ...
    async def logout(self, url: str | None = None, *, timeout: float | None = ...) -> Response: ...
    def on(self, name: _EventName | Literal["*"], listener: Callable[[Event], object]) -> Callable[[], None]: ...
    @property
    def stats(self) -> dict[str, int | None]: ...
    @property
    def generation(self) -> int: ...

def engine_of(api: AuthClient) -> tuple[Any, int]: ...
