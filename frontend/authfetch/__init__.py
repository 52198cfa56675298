"""authfetch: keep users signed in from Python in the browser.

    from authfetch import AuthClient, SessionExpired
    api = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token")
    resp = await api.get("/users/profile")
"""

from .client import AuthClient
from .errors import (
    AuthFetchError,
    HTTPStatusError,
    NetworkError,
    NonReplayableBody,
    RefreshFailed,
    RequestTimeout,
    SessionExpired,
    UsageError,
)
from .events import Event
from .models import Headers, Request, Response
from .servers import Server

__version__ = "0.3.0"
