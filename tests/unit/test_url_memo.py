"""Request URLs are parsed once per client and remembered, within a bound."""

import pytest

from authfetch import AuthClient, UsageError
from authfetch.config import URL_MEMO_SIZE
from authfetch.testing import FakeTransport, reply


def test_resolved_urls_are_remembered_within_a_bound_and_stay_right():
    api = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token", transport=FakeTransport(lambda sent: reply(200)))
    options = api.options
    for i in range(URL_MEMO_SIZE + 50):
        assert options.resolve(f"/items/{i}?q=1") == f"https://app.test/api/v1/items/{i}?q=1"
        assert options.allowed(options.resolve(f"/items/{i}")) is True
    assert len(options._resolved) <= URL_MEMO_SIZE and len(options._allowed) <= URL_MEMO_SIZE
    assert options.allowed("https://elsewhere.test/x") is False
    with pytest.raises(UsageError, match="url"):
        options.resolve("http://exa mple.com/")  # a bad URL is refused every time, never remembered
    with pytest.raises(UsageError, match="url"):
        options.resolve("http://exa mple.com/")
