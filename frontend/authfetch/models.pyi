# Type information for authfetch.models (PEP 561 stub; the runtime module stays plain Python).
from collections.abc import Iterable, Mapping
from typing import Any, Final, Self, TypeVar, overload

_T = TypeVar("_T")

MAX_KEPT: Final[int]
KEEP_SECONDS: Final[int]

class Headers:
    """Case-insensitive, order-keeping header pairs."""

    def __init__(self, pairs: Mapping[str, object] | Iterable[tuple[str, object]] | None = None) -> None: ...
    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def __getitem__(self, name: str) -> str: ...
    def __contains__(self, name: str) -> bool: ...
    def set(self, name: str, value: object) -> None: ...
    def remove(self, name: str) -> None: ...
    def items(self) -> list[tuple[str, str]]: ...
    def copy(self) -> Headers: ...

class Request:
    method: str
    url: str
    headers: Headers | None
    content: str | bytes | None
    native: Any  # a browser body (FormData, Blob, URLSearchParams): a JS object
    stream: Any  # a body that can be sent only once (a ReadableStream): a JS object
    timeout: float | None
    auth: bool
    once: bool
    def __init__(
        self,
        method: str,
        url: str,
        headers: Headers | None = None,
        content: str | bytes | None = None,
        native: Any = None,
        stream: Any = None,
        timeout: float | None = None,
        auth: bool = True,
        once: bool = False,
    ) -> None: ...
    @property
    def replayable(self) -> bool: ...

class Response:
    status: int
    request: Request | None
    native: int  # the transport's number for the answer
    def __init__(self, status: int, request: Request | None = None, source: Any = None, kept: int = 0) -> None: ...
    @property
    def ok(self) -> bool: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def url(self) -> str: ...
    async def bytes(self) -> bytes: ...
    async def text(self) -> str: ...
    async def json(self) -> Any: ...
    def raise_for_status(self) -> Self: ...
