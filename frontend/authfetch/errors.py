"""The one error tree of authfetch.

    AuthFetchError                  root: catch this to catch everything authfetch raises
    ├── UsageError                  bad argument at the call (names the argument)
    ├── HTTPStatusError             resp.raise_for_status() on a 4xx/5xx
    ├── NetworkError                the browser could not complete the request
    ├── RequestTimeout              the request's own timeout ran out (waiting time included)
    ├── NonReplayableBody           a 401 on a body that cannot be sent twice (a stream)
    ├── RefreshFailed               the refresh kept failing transiently; the session is kept
    └── SessionExpired              the refresh endpoint said no: sign in again

Every error but UsageError carries ``.request``; ``.response`` is the last response, if any.
Browser exceptions become these in exactly one place, the transport.
"""


class AuthFetchError(Exception):
    def __init__(self, message, *, request=None, response=None, cause=None):
        super().__init__(message)
        self.message = message
        self.request = request
        self.response = response
        self.cause = cause

    def __str__(self):
        return self.message


class UsageError(AuthFetchError):
    pass


class HTTPStatusError(AuthFetchError):
    pass


class NetworkError(AuthFetchError):
    pass


class RequestTimeout(AuthFetchError):
    pass


class NonReplayableBody(AuthFetchError):
    pass


class RefreshFailed(AuthFetchError):
    pass


class SessionExpired(AuthFetchError):
    pass
