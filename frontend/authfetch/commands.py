"""The coordinator's vocabulary: the commands it answers each input with, and RefreshAnswer,
the one input value read at the edge (inputs.py). Plain records, no behaviour: coordinator.py
decides, session.py carries the commands out (engine.js takes the ones for_engine encodes).
"""


class Gate:
    """Where the engine's gate must stand: OPEN (with ``generation``, ``token`` and the trips
    ``seen``), PAUSED, or ENDED (``reason`` for what arrives meanwhile)."""

    kind = "gate"

    def __init__(self, state, generation, token, seen, reason=None):
        self.state = state
        self.generation = generation
        self.token = token
        self.seen = seen
        self.reason = reason


class Verdict:
    """A held request: REPLAY it (after the refresh if one runs), DELIVER its answer, or FAIL
    with ``reason`` (and ``message``, the cause in words)."""

    kind = "verdict"

    def __init__(self, ident, what, reason=None, message=None):
        self.ident = ident
        self.what = what
        self.reason = reason
        self.message = message


class Recall:
    """Abort the safe requests still out with ``generation`` and hold them as replays."""

    kind = "recall"

    def __init__(self, generation):
        self.generation = generation


class FailWaiting:
    """Every request waiting in the engine's queue fails with ``reason`` (``message``: why)."""

    kind = "fail-waiting"

    def __init__(self, reason, message=None):
        self.reason = reason
        self.message = message


class TakeLock:
    """Take the cross-tab lock for this round's attempt, then tell ``lock_acquired``."""

    kind = "take-lock"

    def __init__(self, epoch):
        self.epoch = epoch


class StartRefresh:
    """Send the refresh call now (under the lock, if one was taken)."""

    kind = "start-refresh"

    def __init__(self, attempt, reason, epoch, call=None, refresh_token=None):
        self.attempt = attempt
        self.reason = reason
        self.epoch = epoch  # hand it back with the outcome; a stale outcome is ignored
        self.call = call  # hand it back too: the next call waits until this one has landed
        self.refresh_token = refresh_token  # the body's, where the server takes it there


class WaitForTabs:
    """Call ``tabs_silent`` after ``delay`` seconds (handing back ``epoch`` and ``wait``) unless
    another tab's message settles the round first (which makes this epoch stale)."""

    kind = "wait-for-tabs"

    def __init__(self, delay, epoch, wait):
        self.delay = delay
        self.epoch = epoch
        self.wait = wait  # a later wait of the same round supersedes this one


class Known:
    """The cross-tab marker that came with tokens this tab adopted: take it as read."""

    kind = "known"

    def __init__(self, marker):
        self.marker = marker


class Keep:
    """The refresh token is now ``refresh_token`` (None: gone): store it where the page opted in."""

    kind = "keep"

    def __init__(self, refresh_token):
        self.refresh_token = refresh_token


class RetryRefresh:
    kind = "retry-refresh"

    def __init__(self, attempt, delay, epoch):
        self.attempt = attempt
        self.delay = delay
        self.epoch = epoch  # hand it back to retry_refresh; a timer from an older epoch is ignored


class Schedule:
    """Call ``wake`` after ``delay`` seconds, and report requests started after it (None: never)."""

    kind = "schedule"

    def __init__(self, delay):
        self.delay = delay


class Announce:
    """Tell the other tabs: "refreshed" or "signed-in" (with the lifetime, and the tokens if
    they may have them), "share" (the tokens as they stand, to a tab that asked), "ask" (for
    them), "session-expired" or "signed-out"."""

    kind = "announce"

    def __init__(self, what, lifetime=None, token=None, refresh_token=None):
        self.what = what
        self.lifetime = lifetime
        self.token = token
        self.refresh_token = refresh_token


class Emit:
    kind = "emit"

    def __init__(self, name, fields):
        self.name = name
        self.fields = fields


class RefreshAnswer:
    """What the refresh endpoint answered, as read at the edge (inputs.refresh_answer).

    ``token``: a usable access token, or None (``token_problem`` says why one found is not);
    ``lifetime``: seconds, checked; ``refresh_token``: a rotated one (body mode), or None;
    ``ended``: the server's words say the session is over (a reused or revoked token), whatever
    the status; ``no_session``: its words say there was no session at all (True), that there
    was one (False: it has such words and did not say them), or nothing (None);
    ``problem``: why the body is no refresh answer (not JSON, too large), or None.
    """

    def __init__(self, status, *, token=None, token_problem=None, lifetime=None, refresh_token=None, ended=False,
                 no_session=None, retry_after=None, problem=None, message=None, ignored=()):
        self.status = status
        self.token = token
        self.token_problem = token_problem
        self.lifetime = lifetime
        self.refresh_token = refresh_token
        self.ended = ended
        self.no_session = no_session
        self.retry_after = retry_after
        self.problem = problem
        self.message = message
        self.ignored = ignored  # notes on values dropped at the edge (the driver prints them)
