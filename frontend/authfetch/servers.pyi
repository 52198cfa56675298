# Type information for authfetch.servers (PEP 561 stub; the runtime module stays plain Python).
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal, TypeAlias

_PresetName: TypeAlias = Literal["tutorial", "simplejwt", "dj-rest-auth", "oauth2"]

COOKIE: Final = "cookie"
BODY: Final = "body"
JSON: Final = "json"
FORM: Final = "form"
WORD_FIELDS: Final[tuple[str, ...]]
PRESETS: Final[dict[str, Callable[..., Server]]]
DEFAULT_SERVER: Final = "tutorial"

class Server:
    name: str
    refresh_token: Literal["cookie", "body"]
    encoding: Literal["json", "form"]
    refresh_field: str
    rotated_field: str | None
    extra: list[tuple[str, str]]
    access_field: str
    login_refresh_field: str | None
    ended_words: tuple[str, ...]
    no_session_words: tuple[str, ...]
    logout_field: str | None
    logout_extra: list[tuple[str, str]]
    mode: Literal["cookie", "bearer"]
    csrf_cookie: str | None
    csrf_header: str | None
    def __init__(
        self,
        *,
        name: str = "custom",
        refresh_token: Literal["cookie", "body"] = "cookie",
        encoding: Literal["json", "form"] = "json",
        refresh_field: str = "refresh",
        rotated_field: str | None = ...,  # default: refresh_field
        extra: Mapping[str, str] | None = None,
        access_field: str = "data.accessToken",
        login_refresh_field: str | None = ...,  # default: rotated_field
        ended_words: str | Iterable[str] = ("refresh_token_reused",),
        no_session_words: str | Iterable[str] = (),
        logout_field: str | None = None,
        logout_extra: Mapping[str, str] | None = None,
        mode: Literal["cookie", "bearer"] = ...,  # default: "bearer" in body mode, else "cookie"
        csrf_cookie: str | None = "csrf_token",
        csrf_header: str | None = "X-CSRF-Token",
    ) -> None: ...
    @property
    def in_body(self) -> bool: ...
    @staticmethod
    def preset(name: _PresetName, *, client_id: str | None = None, scope: str | None = None) -> Server: ...
    def refresh_body(self, refresh_token: str) -> tuple[str, str]: ...
    def logout_body(self, refresh_token: str | None) -> tuple[str, str] | None: ...
    def words(self, document: object) -> Literal["ended", "no-session"] | None: ...
