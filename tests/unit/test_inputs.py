"""What enters from outside is read at the edge (inputs.py): right values, or None and a reason.

The same checks run under MicroPython and Pyodide in the portable suite
(test_hostile_values_are_read_the_same_on_every_interpreter).
"""

import json

import pytest

from authfetch import inputs


@pytest.mark.parametrize(
    "value, expected",
    [(60, 60.0), (0.5, 0.5), (inputs.MAX_LIFETIME, inputs.MAX_LIFETIME), (float("inf"), None), (float("nan"), None),
     (1e300, None), (10**400, None), (0, None), (-5, None), (True, None), ("60", None), (None, None), ([60], None)],
)
def test_a_lifetime_is_a_finite_number_of_seconds_within_reason(value, expected):
    assert inputs.lifetime(value) == expected


@pytest.mark.parametrize(
    "value, problem",
    [("eyJhbGciOi.x.y", None), ("a" * inputs.MAX_TOKEN_LENGTH, None), ("bad\ntoken", "'\\n' at 3"), ("a\rb", "'\\r' at 1"),
     ("t\u20ac", "'€' at 1"), ("caf\u00e9", "'é' at 3"), ("has space", "' ' at 3"), ("", "empty"), (5, "int"),
     (None, "NoneType"), ("a" * (inputs.MAX_TOKEN_LENGTH + 1), "characters long")],
)
def test_a_token_must_be_one_a_header_can_carry(value, problem):
    found = inputs.token_problem(value)
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize("text, expected", [("5", 5.0), (" 2.5 ", 2.5), ("0", 0.0), ("-1", None), ("1e400", None), ("nan", None),
                                           ("Wed, 21 Oct 2026 07:28:00 GMT", None), (None, None)])
def test_retry_after_in_seconds_only(text, expected):
    assert inputs.retry_after(text) == expected


def test_a_refresh_answer_is_read_into_values():
    answer = inputs.refresh_answer(200, json.dumps({"data": {"accessToken": "t1", "expiresIn": 60}, "message": "ok"}))
    assert (answer.status, answer.token, answer.lifetime, answer.problem, answer.ended) == (200, "t1", 60.0, None, False)
    empty = inputs.refresh_answer(204, "")
    assert (empty.problem, empty.token, empty.lifetime) == (None, None, None), "an empty answer is a fine cookie-mode answer"


@pytest.mark.parametrize(
    "text, content_type, named",
    [("<!doctype html><p>app</p>", "text/html; charset=utf-8", "an HTML page, not JSON"), ("not json", None, "text, not JSON"),
     ("[1, 2]", None, "not an object (list)"), ("null", None, "not an object"), (None, None, "over 64 KiB"),
     ("[" * 5000 + "]" * 5000, None, "not JSON")],
)
def test_a_body_that_is_no_refresh_answer_says_why(text, content_type, named):
    answer = inputs.refresh_answer(200, text, content_type=content_type)
    assert answer.problem and named in answer.problem, answer.problem


def test_a_token_or_lifetime_of_the_wrong_kind_is_dropped_with_a_reason():
    answer = inputs.refresh_answer(200, '{"data": {"accessToken": "bad\\ntoken", "expiresIn": 1e400}}')
    assert answer.token is None and "'\\n' at 3" in answer.token_problem
    assert answer.lifetime is None and "inf" in answer.ignored[0]
    jwt = "e30.eyJleHAiOiAxZTQwMCwgImlhdCI6IDB9.x"  # claims {"exp": 1e400, "iat": 0}
    assert inputs.refresh_answer(200, json.dumps({"data": {"accessToken": jwt}})).lifetime is None


def test_reuse_and_the_retry_after_header_are_read():
    answer = inputs.refresh_answer(401, '{"message": "refresh_token_reused"}', retry_after_text="3")
    assert answer.ended and answer.retry_after == 3.0 and answer.message == "refresh_token_reused"
    assert inputs.refresh_answer(401, '{"message": ' + json.dumps("x" * 500) + "}").message == "x" * 200


@pytest.mark.parametrize(
    "text, expected",
    [('{"n": 3, "lifetime": 20, "tab": "t"}', {"n": 3, "lifetime": 20.0, "tab": "t"}), ('{"n": 3}', {"n": 3, "lifetime": None, "tab": None}),
     ('{"n": 3, "lifetime": "x"}', None), ('{"n": 3, "lifetime": 1e400}', None), ('{"n": "3"}', None), ('{"n": true}', None),
     ('{"n": -1}', None), ("[1]", None), ("{", None), ("", None), (None, None), ('{"n": 3, "tab": 5}', {"n": 3, "lifetime": None, "tab": None})],
)
def test_the_cross_tab_marker_is_read_or_ignored_whole(text, expected):
    assert inputs.marker(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [('{"type": "refreshed", "marker": {"n": 1, "lifetime": 20}, "tab": "t"}', ("refreshed", {"n": 1, "lifetime": 20.0, "tab": None}, None, "t", None)),
     ('{"type": "signed-out"}', ("signed-out", None, None, None, None)),
     ('{"type": "signed-in", "marker": {"n": 2}, "token": "tok"}', ("signed-in", {"n": 2, "lifetime": None, "tab": None}, "tok", None, None)),
     ('{"type": "refreshed", "marker": {"n": 2}, "token": "a", "refresh": "r2"}', ("refreshed", {"n": 2, "lifetime": None, "tab": None}, "a", None, "r2")),
     ('{"type": "share", "token": "a", "refresh": "r2"}', ("share", None, "a", None, "r2")), ('{"type": "ask"}', ("ask", None, None, None, None)),
     ('{"type": "share", "refresh": "%s"}' % ("r" * 20000), None), ('{"type": "share", "refresh": 5}', None),
     ('{"type": "share", "refresh": ""}', None),
     ('{"type": "refreshed"}', None), ('{"type": "refreshed", "marker": "x"}', None), ('{"type": "signed-in", "marker": {"n": 2}, "token": "a b"}', None),
     ('{"type": "refreshed", "marker": {"n": 1, "lifetime": [1]}}', None), ('{"type": "hello"}', None), ('{"type": ["refreshed"]}', None),
     ("[1]", None), ("not json", None)],
)
def test_a_cross_tab_message_is_read_or_ignored(text, expected):
    assert inputs.message(text) == expected


@pytest.mark.parametrize(
    "name, value, problem",
    [("X-Id", "abc", None), ("X-Id", "caf\u00e9", None), ("X Id", "a", "name contains ' '"), ("X-Id", "a\nb", "value contains '\\n'"),
     ("X-Id", "\u20ac", "value contains '€'"), ("", "a", "empty"), ("X-\u00e9", "a", "name contains 'é'")],
)
def test_a_header_the_browser_would_refuse_is_named(name, value, problem):
    found = inputs.header_problem(name, value)
    assert (found is None) if problem is None else (problem in found), found


def test_a_sign_in_answer_gives_its_token_and_lifetime_or_nothing():
    assert inputs.sign_in_answer('{"data": {"accessToken": "t", "expiresIn": 30}}', "data.accessToken") == ("t", 30.0, None)
    assert inputs.sign_in_answer('{"data": {"accessToken": "a\\nb", "expiresIn": 1e400}}', "data.accessToken") == (None, None, None)
    assert inputs.sign_in_answer("<html>", "data.accessToken") == (None, None, None)
    assert inputs.sign_in_answer(None, "data.accessToken") == (None, None, None)
    # Simple JWT's and OAuth 2.0's answers carry the refresh token in the body
    assert inputs.sign_in_answer('{"access": "a", "refresh": "r"}', "access", "refresh") == ("a", None, "r")
    assert inputs.sign_in_answer('{"access_token": "a", "expires_in": 300, "refresh_token": "r"}', "access_token", "refresh_token") == ("a", 300.0, "r")
    assert inputs.sign_in_answer('{"access": "a", "refresh": ["r"]}', "access", "refresh") == ("a", None, None)
