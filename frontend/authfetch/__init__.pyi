# Type information for the authfetch package (PEP 561: py.typed beside it). The runtime modules
# stay plain Python (MicroPython has no typing); these stubs beside them carry the public API's
# types, and tests/unit/test_types.py checks them against the modules (mypy.stubtest) and the
# README's examples against them (mypy).
from .client import AuthClient as AuthClient
from .errors import (
    AuthFetchError as AuthFetchError,
    HTTPStatusError as HTTPStatusError,
    NetworkError as NetworkError,
    NonReplayableBody as NonReplayableBody,
    RefreshFailed as RefreshFailed,
    RequestTimeout as RequestTimeout,
    SessionExpired as SessionExpired,
    UsageError as UsageError,
)
from .events import Event as Event
from .models import Headers as Headers, Request as Request, Response as Response
from .servers import Server as Server

__version__: str
