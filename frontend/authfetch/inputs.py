"""What enters from outside, checked where it enters.

A server's answer, another tab's marker in localStorage, a message on the cross-tab channel, a
token, a lifetime: none is authfetch's to trust. Each is read here into plain values of the
right type, or dropped with a note that names what was wrong, so that no input of the wrong
shape can raise inside the coordinator (where it would leave a refresh round half done).

    lifetime(1e400) is None          # inf: no lifetime anyone means
    token_problem("a\\nb")            # "it contains '\\n' at 1": no header can carry it
    marker('{"n": 3}')               # {"n": 3, "lifetime": None, "tab": None}
"""

import json

from . import tokens
from .coordinator import RefreshAnswer
from .servers import PRESETS, DEFAULT_SERVER

MAX_LIFETIME = 10 * 365 * 86400.0  # seconds; beyond, a "lifetime" is a bug, not a plan
MAX_TOKEN_LENGTH = 16384  # characters; more than any server takes in one header
REFRESH_ANSWER_LIMIT = 64 * 1024  # bytes of a refresh answer read at most (one is ~500)
SIGN_IN_ANSWER_LIMIT = 1024 * 1024  # bytes of a sign-in answer read for its token
MESSAGE_KINDS = ("refreshed", "signed-in", "share", "ask", "renewing", "session-expired", "signed-out")
MAX_NOTES = 20  # notes printed per page: a flood of bad messages must not flood the console
_notes = [0]


def note(text):
    """Say on the console that something from outside was ignored (at most MAX_NOTES times)."""
    if _notes[0] < MAX_NOTES:
        _notes[0] += 1
        print("authfetch: " + text)


def lifetime(value):
    """Seconds as a float: a number above 0 and at most MAX_LIFETIME; else None (NaN and inf too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 < value <= MAX_LIFETIME:  # NaN fails both comparisons
        return None
    return float(value)


def token_problem(value):
    """Why ``value`` cannot travel as a bearer token in an HTTP header, or None if it can."""
    if not isinstance(value, str) or not value:
        return f"it is {type(value).__name__ if not isinstance(value, str) else 'empty'}, not a token"
    if len(value) > MAX_TOKEN_LENGTH:
        return f"it is {len(value)} characters long (at most {MAX_TOKEN_LENGTH})"
    for at, char in enumerate(value):
        if not "!" <= char <= "~":  # visible ASCII: what every token format uses and every header takes
            return f"it contains {char!r} at {at}"
    return None


def refresh_token_problem(value):
    """Why ``value`` cannot be a refresh token sent in a request body, or None if it can (a
    body carries any text: only its type and size are checked)."""
    if not isinstance(value, str) or not value:
        return f"it is {type(value).__name__ if not isinstance(value, str) else 'empty'}, not a token"
    if len(value) > MAX_TOKEN_LENGTH:
        return f"it is {len(value)} characters long (at most {MAX_TOKEN_LENGTH})"
    return None


def retry_after(value):
    """Seconds from a Retry-After header (the delta form; an HTTP date is ignored), or None."""
    if not isinstance(value, str):
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def refresh_answer(status, text, *, content_type=None, retry_after_text=None, token_field=tokens.DEFAULT_TOKEN_FIELD,
                   server=None):
    """The refresh endpoint's answer as the coordinator's RefreshAnswer, read in ``server``'s
    terms (servers.Server: where the tokens are, which words end a session).

    ``text`` is its body as read (None: it was larger than REFRESH_ANSWER_LIMIT and not read on).
    A 2xx answer must be a JSON object or empty; anything else (an HTML page from a catch-all
    route, plain text, 5 MB) is not a refresh answer, whatever its status says.
    """
    server = server or PRESETS[DEFAULT_SERVER]()
    problem = None
    document = None
    if text is None:
        problem = f"its body is over {REFRESH_ANSWER_LIMIT // 1024} KiB (a refresh answer is a few hundred bytes)"
    elif text.strip():
        try:
            document = json.loads(text)
        except Exception:  # ValueError; MicroPython raises others for deep nesting
            kind = "an HTML page" if "html" in (content_type or "").lower() else "text"
            problem = f"its body is {kind}, not JSON (is refresh_url the refresh endpoint?)"
        else:
            if not isinstance(document, dict):
                problem = f"its body is JSON but not an object ({type(document).__name__})"
                document = None
    found = tokens.lookup(document, token_field) if document is not None else None
    problem_with_token = None if found is None else token_problem(found)
    ignored = []
    seconds = None
    if document is not None:
        raw = tokens.raw_lifetime(document, found if problem_with_token is None else None)
        seconds = lifetime(raw)
        if raw is not None and seconds is None:
            ignored.append(f"ignored the lifetime {raw!r} in the refresh answer: not a number of seconds from 0 to {MAX_LIFETIME:.0f}")
    rotated = None
    if document is not None and server.in_body and server.rotated_field:
        rotated = tokens.lookup(document, server.rotated_field)
        if rotated is not None and refresh_token_problem(rotated) is not None:
            ignored.append(f"ignored the refresh token in the refresh answer: {refresh_token_problem(rotated)}")
            rotated = None
    words = server.words(document) if not 200 <= status < 300 else None
    return RefreshAnswer(
        status,
        token=found if problem_with_token is None else None,
        token_problem=problem_with_token,
        lifetime=seconds,
        refresh_token=rotated,
        ended=words == "ended",
        no_session=(words == "no-session") if server.no_session_words else None,
        retry_after=retry_after(retry_after_text),
        problem=problem,
        message=_said(document),
        ignored=ignored,
    )


def _said(document):
    """The server's own words in an error answer, for the error message (at most 200 characters)."""
    if not isinstance(document, dict):
        return None
    for field in ("message", "error", "code", "detail", "error_description"):
        value = document.get(field)
        if isinstance(value, str) and value:
            return value[:200]
    return None


def sign_in_answer(text, token_field, refresh_field=None):
    """(token, lifetime, refresh token) from a 2xx sign-in answer's body (None: over the limit);
    None for each part that is missing or wrong, with a note saying which. ``refresh_field``:
    where the answer carries the refresh token (a server that sends it in the body)."""
    if text is None or not text.strip():
        return None, None, None
    try:
        document = json.loads(text)
    except Exception:
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    found = _token(document, token_field, "sign-in answer's", token_problem)
    refresh = _token(document, refresh_field, "sign-in answer's", refresh_token_problem) if refresh_field else None
    raw = tokens.raw_lifetime(document, found)
    seconds = lifetime(raw)
    if raw is not None and seconds is None:
        note(f"ignored the lifetime {raw!r} in the sign-in answer")
    return found, seconds, refresh


def _token(document, field, where, problem_of):
    found = tokens.lookup(document, field)
    if found is not None and problem_of(found) is not None:
        note(f"ignored the {where} {field}: {problem_of(found)}")
        found = None
    return found


def marker(text):
    """The cross-tab marker as stored (JSON text): {"n", "lifetime", "tab"}, or None when there
    is none or it has the wrong shape (another version's, an extension's: ignored)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = json.loads(text)
    except Exception:
        return None
    return _marker(value)


def _marker(value):
    if not isinstance(value, dict):
        return None
    serial = value.get("n")
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        return None
    raw = value.get("lifetime")
    seconds = None if raw is None else lifetime(raw)
    if raw is not None and seconds is None:
        return None
    tab = value.get("tab")
    return {"n": serial, "lifetime": seconds, "tab": tab if isinstance(tab, str) else None}


def stored_token(text):
    """A refresh token read back from sessionStorage, or None (none there, or not a token)."""
    if text is None:
        return None
    if refresh_token_problem(text) is not None:
        note("ignored the refresh token in sessionStorage: " + refresh_token_problem(text))
        return None
    return text


def message(text):
    """A cross-tab message (JSON text) as (kind, marker, token, tab, refresh token), or None for
    one that is not authfetch's or has the wrong shape. A renewal or sign-in must carry a marker."""
    try:
        value = json.loads(text)
    except Exception:
        return None
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_KINDS:
        return None
    token = value.get("token")
    if token is not None and token_problem(token) is not None:
        return None
    refresh = value.get("refresh")
    if refresh is not None and refresh_token_problem(refresh) is not None:
        return None
    found = None
    if value.get("marker") is not None:
        found = _marker(value.get("marker"))
        if found is None:
            return None
    if kind in ("refreshed", "signed-in") and found is None:
        return None
    tab = value.get("tab")
    return kind, found, token, tab if isinstance(tab, str) else None, refresh


TOKEN_CHARS = "!#$%&'*+-.^_`|~"  # besides letters and digits (RFC 9110 tchar)


def header_problem(name, value):
    """Why a header cannot be sent (a name that is no token, a value with a line break or a
    character above U+00FF, which the browser's Headers refuses), or None."""
    if not name:
        return "its name is empty"
    for char in name:
        if not (char.isalpha() and char < "\x80" or char.isdigit() and char < "\x80" or char in TOKEN_CHARS):
            return f"its name contains {char!r}"
    for char in value:
        if char in "\r\n\x00" or char > "\xff":
            return f"its value contains {char!r}"
    return None
