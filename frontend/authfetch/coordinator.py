"""The coordinator: every decision authfetch makes, and no I/O.

Theory of operation
-------------------
Requests travel through the transport's *engine* (engine.js in the browser), which sends them
at browser speed and keeps the held queue and the connection slots. The coordinator is not
told about every request: it is told what needs a decision, and answers with *commands*.

Inputs: ``answered`` (a coordinated request got a refresh-wanted answer, e.g. a 401: the
engine holds it and reports it), ``due`` (a request started after the renewal fell due),
``authenticated`` (a credentialed answer came back 2xx: there is a session),
``refresh_succeeded`` / ``refresh_failed`` / ``retry_refresh`` (the refresh call), ``timer``
(a Schedule came due), ``wake`` (the page woke up), ``remote_refreshed`` / ``signed_in`` / ``end_session``
(another tab, a sign-in, a sign-out), ``close``. Each comes with the current time.

Commands: Verdict (replay, deliver or fail one held request), Recall, FailWaiting,
StartRefresh, RetryRefresh, Schedule, Emit, and Gate.

Credentials have a *generation*: 0 at start, +1 on every successful refresh or sign-in. The
engine tags each send with it, so a reported answer is read correctly:

    401, generation == current, no refresh running   -> start the refresh, replay it after
    401, generation == current, refresh running      -> replay it after the refresh (join)
    401, generation <  current                       -> replay it now: already refreshed
    401 on a replay, or a body that cannot be replayed -> deliver the 401 / fail it, no loop

The first 401 of a generation also *recalls* the safe requests (GET, HEAD, OPTIONS) still out
with it: the engine aborts them and holds them as replays, so a burst costs one 401, not one
per request. Unsafe methods are never recalled: one may already be at the server.

The gate
--------
The engine sends coordinated requests only while its gate is open. Every input returns, as
its last command, the gate as the coordinator sees it: ``paused`` while a refresh round runs,
``ended`` once the session is over, ``open`` (with the generation, the bearer token and the
trips seen) otherwise. The engine pauses the gate on its own at a *trip* (the first 401 of the
current credential, or a request past the due time) and reports it; it reopens only on an
``open`` that has seen that trip or carries a newer credential.

Invariant (tested by hand and by property tests over random inputs): the gate the coordinator
last commanded is ``paused`` exactly while ``refreshing`` is true, so no refresh outcome
(success, transient or terminal failure, timeout, close, another tab's renewal, sign-in,
sign-out) can leave held requests waiting: the input that ends a round returns ``open`` or
``ended``, and an engine paused by a trip is reopened by the input that reads the trip.

The refresh outcome:

    success                       -> generation += 1; the gate opens with the new credential,
                                     held requests go out (replays flagged); emit "refresh"
    400 / 401 / 403 / reused      -> session ends: what waits fails SESSION_EXPIRED,
                                     "session-expired" once ("no-session" if this page never
                                     saw a session: a first visit, signed out, is no alarm); the
                                     gate ends, later requests fail unsent until a sign-in
    anything else (network, 5xx,  -> retry after jittered exponential backoff (Retry-After
    408, 429, bad body, timeout)     honoured) up to ``refresh_retries``; then what waits fails
                                     REFRESH_FAILED, "refresh-failed", the gate opens with the
                                     same credential and the next 401 tries again

When a response tells the credential's lifetime, it is renewed ahead of expiry: ``leeway``
seconds before, or at half its life if that is later. Schedule(delay) tells the driver when to
call ``wake`` and the engine when a request should report ``due``. Lifetimes are measured from
arrival on this machine's monotonic clock, so a skewed clock on either side changes nothing.

When the last client closes (``close``), nothing is renewed ahead of expiry any more and a
refresh round that no request waits for gives up instead of retrying.

A sign-in or sign-out starts a new *epoch*: a refresh still in flight from before reports
with its old epoch and is ignored, so it can neither end nor renew the new session.
"""

LIVE = "live"
ENDED = "ended"
SIGNED_OUT = "signed-out"

OPEN = "open"
PAUSED = "paused"

SESSION_EXPIRED = "session-expired"
NO_SESSION = "no-session"  # ended as SESSION_EXPIRED, but there never was a session here
REFRESH_FAILED = "refresh-failed"
NON_REPLAYABLE = "non-replayable"

REPLAY = "replay"
DELIVER = "deliver"
FAIL = "fail"

DEFINITIVE_REFRESH_STATUSES = (400, 401, 403)
DEFAULT_REFRESH_RETRIES = 3
DEFAULT_LEEWAY = 30.0
BACKOFF_BASE = 0.25  # seconds before the first retry, doubled each time, then jittered
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 30.0  # a longer Retry-After gives up now instead of holding requests


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
    """A held request: REPLAY it (after the refresh if one runs), DELIVER its answer, or FAIL."""

    kind = "verdict"

    def __init__(self, ident, what, reason=None):
        self.ident = ident
        self.what = what
        self.reason = reason


class Recall:
    """Abort the safe requests still out with ``generation`` and hold them as replays."""

    kind = "recall"

    def __init__(self, generation):
        self.generation = generation


class FailWaiting:
    """Every request waiting in the engine (held or not yet sent) fails with ``reason``."""

    kind = "fail-waiting"

    def __init__(self, reason):
        self.reason = reason


class StartRefresh:
    kind = "start-refresh"

    def __init__(self, attempt, reason, epoch):
        self.attempt = attempt
        self.reason = reason
        self.epoch = epoch  # hand it back with the outcome; a stale outcome is ignored


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


class Emit:
    kind = "emit"

    def __init__(self, name, fields):
        self.name = name
        self.fields = fields


class Stats:
    def __init__(self):
        self.refreshes = 0  # refresh calls started, retries included
        self.refresh_successes = 0

    def as_dict(self):
        return {"refreshes": self.refreshes, "refresh_successes": self.refresh_successes}


class Coordinator:
    def __init__(self, *, refresh_retries=DEFAULT_REFRESH_RETRIES, leeway=DEFAULT_LEEWAY, random=None):
        self.refresh_retries = refresh_retries
        self.leeway = leeway
        self._random = random or (lambda: 0.5)
        self.generation = 0
        self.token = None  # bearer mode: the credential the engine sends, in memory only
        self.session = LIVE
        self.refreshing = False
        self.attempt = 0  # refresh attempts in the current round
        self.epoch = 0  # +1 at each sign-in or sign-out: refresh outcomes from before are stale
        self.refresh_at = None  # when to renew ahead of expiry, on the monotonic clock
        self.closed = False  # no client left: no renewals, no retries for nobody
        self.recalled_generation = None  # the generation whose safe requests were recalled
        self.seen = 0  # the engine's trips read so far
        self.known = False  # this page has seen a session: a sign-in, a renewal, a 2xx answer
        self.stats = Stats()

    # -- inputs: what the engine reports ------------------------------------------------------

    def answered(self, ident, generation, now, *, replayed, replayable, seen):
        """A coordinated request got a refresh-wanted answer; the engine holds it.

        ``generation`` it was sent with; ``replayed`` if that send was its replay; ``seen`` the
        engine's trip count when it reported (this answer's trip included).
        """
        self.seen = max(self.seen, seen)
        if self.session != LIVE:
            return [Verdict(ident, FAIL, SESSION_EXPIRED), self.gate()]
        if replayed:
            return [Verdict(ident, DELIVER), self.gate()]
        commands = []
        if generation == self.generation and not self.refreshing:
            commands += self._begin_refresh("401")
        if generation == self.generation and self.recalled_generation != self.generation:
            self.recalled_generation = self.generation
            commands.append(Recall(self.generation))
        if not replayable:
            commands.append(Verdict(ident, FAIL, NON_REPLAYABLE))
        else:
            commands.append(Verdict(ident, REPLAY))
        return commands + [self.gate()]

    def authenticated(self, generation, now):
        """A credentialed request of ``generation`` was answered 2xx: a session exists."""
        if generation == self.generation and self.session == LIVE:
            self.known = True
        return [self.gate()]

    def due(self, now, *, seen):
        """A request started after the renewal fell due; the engine paused and waits.

        The engine's due time mirrors the latest Schedule, so its clock is trusted here: a
        renewal is planned (``refresh_at``) and the engine says its time has come.
        """
        self.seen = max(self.seen, seen)
        commands = []
        if self.session == LIVE and not self.refreshing and self.refresh_at is not None:
            commands += self._begin_refresh("expiry")
        return commands + [self.gate()]

    # -- inputs: the refresh call -------------------------------------------------------------

    def refresh_succeeded(self, now, *, token=None, lifetime=None, epoch=None):
        """The refresh call returned new credentials; ``lifetime`` in seconds if known."""
        if self._stale(epoch):
            return [self.gate()]
        self._end_round()
        self.stats.refresh_successes += 1
        commands = self._new_credentials(now, token, lifetime)
        return commands + [Emit("refresh", {"generation": self.generation, "source": "local"}), self.gate()]

    def refresh_failed(
        self, now, *, status=None, definitive=False, retry_after=None, error=None, epoch=None, waiting=True, seen=False
    ):
        """The refresh call failed: an HTTP ``status``, or none for a network error or timeout.
        ``waiting``: whether any request waits in the engine (a closed client gives up without).
        ``seen``: the page showed a session when the round began (its session cookie)."""
        if self._stale(epoch):
            return [self.gate()]
        if definitive or status in DEFINITIVE_REFRESH_STATUSES:
            self._end_round()
            ended = SESSION_EXPIRED if self.known or seen else NO_SESSION
            return self.end_session(ended, status=status, error=error)
        if self._worth_retrying(waiting) and self.attempt <= self.refresh_retries and (
            retry_after is None or retry_after <= MAX_RETRY_AFTER
        ):
            delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (self.attempt - 1))) * (0.5 + self._random())
            if retry_after is not None:
                delay = max(delay, retry_after)
            return [RetryRefresh(self.attempt + 1, delay, self.epoch), self.gate()]
        return self._give_up(status, error)

    def retry_refresh(self, now, *, epoch=None, waiting=True):
        """The backoff of a RetryRefresh ran out: send the refresh again."""
        if not self.refreshing or self._stale(epoch):
            return [self.gate()]
        if not self._worth_retrying(waiting):
            return self._give_up(None, "no client is left to renew for")
        self.attempt += 1
        self.stats.refreshes += 1
        return [StartRefresh(self.attempt, "retry", self.epoch), self.gate()]

    # -- inputs: time, other tabs, sign-in and sign-out ---------------------------------------

    def timer(self, now):
        """The Schedule's timer fired. A timer may fire a little before its time by this clock
        (Pyodide's asyncio.sleep wakes up to ~0.3 ms early): then it waits the rest, else an
        idle page would skip its renewal ahead of expiry."""
        if self.session == LIVE and not self.refreshing and self.refresh_at is not None and now < self.refresh_at:
            return [Schedule(self.refresh_at - now), self.gate()]
        return self.wake(now)

    def wake(self, now):
        """The page woke (visible again, back online), or a Schedule came due: renew if it is time."""
        if self.session != LIVE or self.refreshing or not self._near_expiry(now):
            return [self.gate()]
        return self._begin_refresh("expiry") + [self.gate()]

    def remote_refreshed(self, now, *, token=None, lifetime=None, tab=None):
        """Another tab renewed the shared credentials (cookie jar, or a shared token).

        Settles this tab's own refresh round as if it had succeeded, without a call: the round
        in flight (waiting for the cross-tab lock) becomes stale, held requests go out.
        """
        self.session = LIVE
        self._new_epoch()
        commands = self._new_credentials(now, token, lifetime)
        fields = {"generation": self.generation, "source": "remote", "tab": tab}
        return commands + [Emit("refresh", fields), self.gate()]

    def signed_in(self, now, *, token=None, lifetime=None):
        """A sign-in answered 2xx: the session is live again with fresh credentials."""
        self.session = LIVE
        self._new_epoch()
        return self._new_credentials(now, token, lifetime) + [self.gate()]

    def end_session(self, reason=SIGNED_OUT, *, status=None, error=None):
        """The session is over: ``SESSION_EXPIRED`` (the server said so), ``NO_SESSION`` (it
        said so on a page that never had one: a first visit) or ``SIGNED_OUT``."""
        if self.session != LIVE:
            return [FailWaiting(SESSION_EXPIRED), self.gate()]
        self.session = SIGNED_OUT if reason == SIGNED_OUT else ENDED
        self.refresh_at = None
        self.token = None
        self.known = False
        if reason == SIGNED_OUT:
            self._new_epoch()
        commands = [FailWaiting(SESSION_EXPIRED), Schedule(None)]
        if reason != SIGNED_OUT:  # "no-session": a first visit, not signed in yet; no alarm
            commands.append(Emit(reason, {"status": status, "error": error}))
        return commands + [self.gate()]

    def close(self):
        """No client is left. Requests still out settle as ever, but nothing is renewed ahead
        of expiry any more, and a refresh round with no request waiting gives up."""
        self.closed = True
        self.refresh_at = None
        return [Schedule(None), self.gate()]

    # -- the gate -----------------------------------------------------------------------------

    def gate(self):
        """The gate as this coordinator sees it (the last command of every input)."""
        if self.session != LIVE:
            return Gate(ENDED, self.generation, None, self.seen, SESSION_EXPIRED)
        if self.refreshing:
            return Gate(PAUSED, self.generation, self.token, self.seen)
        return Gate(OPEN, self.generation, self.token, self.seen)

    # -- inner workings -----------------------------------------------------------------------

    def _near_expiry(self, now):
        return self.refresh_at is not None and now >= self.refresh_at

    def _stale(self, epoch):
        return epoch is not None and epoch != self.epoch

    def _end_round(self):
        self.refreshing = False
        self.attempt = 0

    def _new_epoch(self):
        """Sign-in or sign-out: a refresh still running belongs to the old session."""
        self.epoch += 1
        self._end_round()

    def _new_credentials(self, now, token, lifetime):
        """Generation +1; renew ahead of expiry by ``leeway``, but never past half the lifetime
        (a 5 s token with a 30 s leeway would otherwise refresh before every request)."""
        self.generation += 1
        self.token = token
        self.known = True
        if lifetime is None or self.leeway is None or self.closed:
            self.refresh_at = None
            return [Schedule(None)]
        ahead = min(self.leeway, lifetime / 2)
        self.refresh_at = now + lifetime - ahead
        return [Schedule(lifetime - ahead)]

    def _worth_retrying(self, waiting):
        return not self.closed or bool(waiting)

    def _give_up(self, status, error):
        """The refresh round ends without new credentials; the session is kept."""
        self._end_round()
        self.recalled_generation = None  # the credential is still the stale one: recall again next time
        return [
            FailWaiting(REFRESH_FAILED),
            Emit("refresh-failed", {"status": status, "error": error}),
            self.gate(),
        ]

    def _begin_refresh(self, reason):
        self.refreshing = True
        self.attempt = 1
        self.stats.refreshes += 1
        return [StartRefresh(1, reason, self.epoch), Emit("refresh-start", {"reason": reason, "attempt": 1})]
