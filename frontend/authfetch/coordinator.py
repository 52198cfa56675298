"""The coordinator: every decision authfetch makes, and no I/O.

Theory of operation
-------------------
Requests travel through the transport's *engine* (engine.js in the browser), which sends them
at browser speed and keeps the held queue and the connection slots. The coordinator is not
told about every request: it is told what needs a decision, and answers with *commands*.

Inputs: ``answered`` (a coordinated request got a refresh-wanted answer, e.g. a 401: the
engine holds it and reports it), ``due`` (a request started after the renewal fell due),
``authenticated`` (a credentialed answer came back 2xx: there is a session), ``lock_acquired``
/ ``lock_failed`` (the cross-tab lock, and whether another tab renewed meanwhile),
``refresh_answered`` (the refresh call's answer, read into a RefreshAnswer at the edge) /
``refresh_failed`` (no answer: the network, a timeout) / ``retry_refresh``, ``timer`` (a
Schedule came due), ``wake`` (the page woke up), ``remote`` (another tab's message),
``signed_in`` / ``end_session`` (a sign-in, a sign-out), ``close``, and ``faulted`` (something
failed where nothing should). Each comes with the current time. Values in them were checked
where they entered (inputs.py): the coordinator decides, it does not parse.

Commands (commands.py): Verdict (replay, deliver or fail one held request), Recall, FailWaiting, TakeLock,
StartRefresh (send the refresh call), RetryRefresh, WaitForTabs, Schedule, Announce (tell the
other tabs), Keep (the refresh token changed: store it where the page opted in), Emit, Gate.

Where the server takes its refresh token in the request body (``carries_refresh``: Simple JWT,
OAuth 2.0), the coordinator holds it beside the access token, in memory: a sign-in or refresh
answer brings it, a rotated one replaces it, StartRefresh carries it out. Without one there
is nothing to refresh with: the session ends as "no-session" (or asks the other tabs first
where they share it, ``share``). With rotation a spent token must never go out again, so a
tab that finds under the lock that another tab renewed waits for that tab's message (its new
tokens) instead of calling.

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

Invariant (tested by hand and by property tests over random inputs with the real engine): the
gate the coordinator last commanded is ``paused`` exactly while ``refreshing`` is true, so no
refresh outcome (success, transient or terminal failure, timeout, close, another tab's renewal,
sign-in, sign-out, a fault) can leave held requests waiting: the input that ends a round returns
``open`` or ``ended``, and an engine paused by a trip is reopened by the input that reads the
trip. A round in flight always has its next step out: a lock being taken, a call on the wire,
or a retry timer; each of them ends in an input, whatever it meets, and the drivers turn any
exception on the way into ``faulted``, which ends the round as failed (what waits fails with
an error naming the cause) instead of leaving it running.

The refresh outcome:

    2xx, a JSON object (or empty) -> generation += 1; the gate opens with the new credential,
    and a usable token if bearer     held requests go out (replays flagged); emit "refresh"
    400 / 401 / 403, or the       -> session ends: what waits fails SESSION_EXPIRED,
    server's words for it
                                     "session-expired" once ("no-session" if this page never
                                     saw a session: a first visit, signed out, is no alarm; the
                                     server's own words for it decide where it has some); the
                                     gate ends, later requests fail unsent until a sign-in
    anything else (network, 5xx,  -> retry after jittered exponential backoff (Retry-After
    408, 429, timeout, a 2xx that    honoured) up to ``refresh_retries``; then what waits fails
    is no refresh answer: HTML,      REFRESH_FAILED, "refresh-failed", the gate opens with the
    text, over 64 KiB, a token no    same credential and the next 401 tries again
    header can carry)
    an exception on the way       -> the round ends at once as failed (no retry): REFRESH_FAILED
                                     naming it, "refresh-failed", the gate opens

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
MAX_LIFETIME = 10 * 365 * 86400.0  # seconds (inputs.py drops longer ones; checked here again)
ASK_WAIT = 0.5  # seconds a tab without a refresh token waits for another tab to share one
MESSAGE_WAIT = 2.0  # seconds to wait for the new tokens of a renewal another tab made
RENEWING_WAIT = 20.0  # and for those of one another tab is making: its lock wait and its call


from .commands import (  # noqa: F401  (also imported from here by the drivers and tests)
    Gate,
    Verdict,
    Recall,
    FailWaiting,
    TakeLock,
    StartRefresh,
    WaitForTabs,
    Known,
    Keep,
    RetryRefresh,
    Schedule,
    Announce,
    Emit,
    RefreshAnswer,
)

class Stats:
    def __init__(self):
        self.refreshes = 0  # refresh calls started, retries included
        self.refresh_successes = 0

    def as_dict(self):
        return {"refreshes": self.refreshes, "refresh_successes": self.refresh_successes}


class Coordinator:
    def __init__(self, *, refresh_retries=DEFAULT_REFRESH_RETRIES, leeway=DEFAULT_LEEWAY, random=None,
                 requires_token=False, cross_tab=False, carries_refresh=False, refresh_token=None):
        self.refresh_retries = refresh_retries
        self.leeway = leeway
        self._random = random or (lambda: 0.5)
        self.requires_token = requires_token  # bearer mode: a renewal is a token, not a cookie
        self.cross_tab = cross_tab  # refresh under the cross-tab lock, and tell the other tabs
        self.generation = 0
        self.token = None  # bearer mode: the credential the engine sends, in memory only
        self.carries_refresh = carries_refresh  # the refresh token travels in the call's body
        self.refresh_token = refresh_token if carries_refresh else None  # and lives here (or restored)
        self.session = LIVE
        self.refreshing = False
        self.attempt = 0  # refresh attempts in the current round
        self.epoch = 0  # +1 at each sign-in or sign-out: refresh outcomes from before are stale
        self.refresh_at = None  # when to renew ahead of expiry, on the monotonic clock
        self.closed = False  # no client left: no renewals, no retries for nobody
        self.recalled_generation = None  # the generation whose safe requests were recalled
        self.seen = 0  # the engine's trips read so far
        self.known = False  # this page has seen a session: a sign-in, a renewal, a 2xx answer
        self.reason = None  # why the round running began ("401", "expiry")
        self.attempt_reason = None  # and its attempt ("retry" after the first)
        self.calls = 0  # refresh calls sent so far
        self.call_out = None  # the one on the wire, of whatever epoch (a stale one may still be)
        self.call_token = None  # the refresh token it carries (body mode)
        self.call_epoch = None  # and the epoch it was sent in
        self.promised = False  # this tab told an asking tab "renewing": its round's end tells the tokens
        self.call_waits = False  # this round's call waits for that one to land
        self.parked_refresh_at = None  # the renewal close() put aside, for reopen()
        self.waits = 0  # WaitForTabs given so far: only the latest one's end counts
        self.told_renewing = False  # this round's ask was answered "renewing" (taken once)
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
            if self.session != LIVE:  # nothing to refresh with (body mode): ended at once
                return commands + [Verdict(ident, FAIL, SESSION_EXPIRED), self.gate()]
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

    # -- inputs: the cross-tab lock and the refresh call ---------------------------------------

    def lock_acquired(self, now, *, epoch=None, renewed_elsewhere=False, lifetime=None):
        """This tab holds the cross-tab lock for the round's attempt; ``renewed_elsewhere``: the
        shared marker says another tab renewed since this tab's credentials (with ``lifetime``).
        Only a StartRefresh in the answer keeps the lock (until the call is done)."""
        if self._stale(epoch) or not self.refreshing:
            return [self.gate()]  # settled while this tab waited (another tab's message came first)
        if renewed_elsewhere and not self.requires_token:
            return self.remote_refreshed(now, lifetime=lifetime)  # cookies are shared: adopt it
        if renewed_elsewhere and self.carries_refresh:
            # That tab rotated the refresh token this tab holds: sending it now would be reuse.
            # Its message brings the new ones (posted before it let the lock go).
            return [self._wait(MESSAGE_WAIT), self.gate()]
        return self._call() + [self.gate()]

    def lock_failed(self, now, *, epoch=None, error=None, waiting=True, seen=False):
        """The cross-tab lock was not granted in time: a transient failure of the attempt."""
        return self.refresh_failed(now, error=error, epoch=epoch, waiting=waiting, seen=seen)

    def refresh_answered(self, now, answer, *, epoch=None, call=None, waiting=True, seen=False):
        """The refresh call came back with an HTTP answer (a RefreshAnswer). ``waiting``: how many
        requests wait in the engine; ``seen``: the page showed a session when the round began;
        ``call``: the StartRefresh's number."""
        kept = self._rotated(answer, call)
        landed = kept + self._landed(call)
        if self._stale(epoch):
            return landed + [self.gate()]
        status = answer.status
        if 200 <= status < 300:
            problem = answer.problem
            if problem is None and self.requires_token and answer.token is None:
                problem = "it carries no access token"
                if answer.token_problem:
                    problem = f"its access token cannot be sent in an HTTP header: {answer.token_problem}"
            if problem is None:
                token = answer.token if self.requires_token else None
                return kept + self.refresh_succeeded(
                    now, token=token, lifetime=answer.lifetime, epoch=epoch, refresh_token=answer.refresh_token
                )
            error = f"refresh answered {status}, but {problem}"
            return kept + self.refresh_failed(now, status=status, error=error, epoch=epoch, waiting=waiting, seen=seen)
        error = f"refresh answered {status}" + (f" ({answer.message})" if answer.message else "")
        return self.refresh_failed(
            now, status=status, definitive=answer.ended, retry_after=answer.retry_after, error=error,
            epoch=epoch, waiting=waiting, seen=seen, no_session=answer.no_session,
        )

    def refresh_succeeded(self, now, *, token=None, lifetime=None, epoch=None, call=None, refresh_token=None):
        """The refresh call returned new credentials; ``lifetime`` in seconds if known;
        ``refresh_token``: a rotated one (without, the one sent stays good)."""
        landed = self._landed(call)
        if self._stale(epoch):
            return landed + [self.gate()]
        self._end_round()
        self.stats.refresh_successes += 1
        commands = self._new_credentials(now, token, lifetime)
        if refresh_token is not None:
            commands += self._keep(refresh_token)
        commands.append(Emit("refresh", {"generation": self.generation, "source": "local"}))
        if self.cross_tab:
            commands.append(Announce("refreshed", self._lifetime(lifetime), self.token, self.refresh_token))
        return commands + [self.gate()]

    def refresh_failed(
        self, now, *, status=None, definitive=False, retry_after=None, error=None, epoch=None, call=None, waiting=True,
        seen=False, no_session=None,
    ):
        """The refresh call failed: an HTTP ``status``, or none for a network error or timeout.
        ``waiting``: whether any request waits in the engine (a closed client gives up without).
        ``seen``: the page showed a session when the round began (its session cookie);
        ``no_session``: the server's words on it (RefreshAnswer.no_session), which win."""
        landed = self._landed(call)
        if self._stale(epoch):
            return landed + [self.gate()]
        if definitive or status in DEFINITIVE_REFRESH_STATUSES:
            was_live = self.session == LIVE
            self._end_round()
            if no_session is None:  # no words for it: a refresh token sent, or a session cookie, is proof
                had = self.known or seen or self.refresh_token is not None
            else:
                had = self.known or not no_session
            ended = SESSION_EXPIRED if had else NO_SESSION
            commands = self.end_session(ended, status=status, error=error)
            if was_live and self.cross_tab:
                commands.insert(-1, Announce(SESSION_EXPIRED))
            return commands
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
        return self._attempt("retry") + [self.gate()]

    def faulted(self, now, *, error, held=(), seen=0, epoch=None, call=None, calls_out=None):
        """Something failed where nothing should: an exception on the refresh or report path,
        in a coordinator input or while carrying out commands (a bug, or a value no check
        foresaw). ``held``: requests of a report no one could decide on; ``seen``: its trips.

        What is running cannot be trusted to end, so it ends here: the round fails at once
        (no retry; its call, if still out, is stale), what waits fails naming ``error``, and
        the gate opens (or stays ended). A later 401 starts afresh, its call once any still out
        has landed (``call``: the faulted call's number; ``calls_out``: the calls the driver
        knows are on the wire, since a StartRefresh lost with the fault never went out)."""
        self._forget_calls_not_out(calls_out)
        if self._stale(epoch):  # a stale call's fault: the round that waited for it may call now
            return self._landed(call) + [self.gate()]
        if call is not None and call == self.call_out:
            self.call_out = None  # landed, with the round it belonged to ending here: nothing to resume
        self.seen = max(self.seen, seen if isinstance(seen, int) else 0)
        message = "authfetch failed on the way: " + str(error)
        commands = []
        for ident in held:
            commands.append(Verdict(ident, FAIL, REFRESH_FAILED, message))
        if self.refreshing:
            self._new_epoch()  # the call or lock in flight reports stale and is ignored
            commands += self._give_up(None, message)[:-1]
        return commands + [self.gate()]

    def tabs_silent(self, now, *, epoch=None, wait=None, waiting=True):
        """A WaitForTabs ran out with no message settling the round: no tab shared a refresh
        token (there is no session), or the one that renewed never told its tokens (a
        transient failure: retried, in turn, under the lock)."""
        if not self.refreshing or self._stale(epoch) or (wait is not None and wait != self.waits):
            return [self.gate()]
        if self.refresh_token is None:
            self._end_round()
            return self._end(SESSION_EXPIRED if self.known else NO_SESSION, None, "no refresh token in this tab")
        # Another tab renewed, and its tokens never came: the one held here is spent (sending it
        # would be reuse). Ask the tabs once for theirs; without an answer the session is over
        # (it was one: this tab held a token).
        self.known = True
        return self._keep(None) + [Announce("ask"), self._wait(ASK_WAIT), self.gate()]

    def abandon(self, seen=0, calls_out=(), call=None):
        """The last resort when ``faulted`` itself failed (a bug there): the round is dropped and
        nothing else is decided. Plain assignments only; returns the gate to set."""
        self.epoch += 1
        self.refreshing = False
        self.attempt = 0
        self.call_waits = False
        self.recalled_generation = None
        if self.call_out not in calls_out or self.call_out == call:
            self.call_out = None
        if isinstance(seen, int) and seen > self.seen:
            self.seen = seen
        return self.gate()

    # -- inputs: time, other tabs, sign-in and sign-out ---------------------------------------

    def timer(self, now):
        """The Schedule's timer fired. A timer may fire a little before its time by this clock
        (Pyodide's asyncio.sleep wakes up to ~0.3 ms early, and long delays are cut into
        shorter timers): then it waits the rest, else an idle page would skip its renewal."""
        if self.session == LIVE and not self.refreshing and self.refresh_at is not None and now < self.refresh_at:
            return [Schedule(self.refresh_at - now), self.gate()]
        return self.wake(now)

    def wake(self, now):
        """The page woke (visible again, back online), or a Schedule came due: renew if it is time."""
        if self.session != LIVE or self.refreshing or not self._near_expiry(now):
            return [self.gate()]
        return self._begin_refresh("expiry") + [self.gate()]

    def remote(self, now, what, *, token=None, lifetime=None, tab=None, fresh=True, refresh_token=None, marker=None):
        """Another tab said ``what`` ("refreshed", "signed-in", "share", "ask", "session-expired",
        "signed-out"), with the tokens if it shares them; ``fresh``: a renewal this tab has not
        adopted already; ``marker``: the renewal a "share" stands at (known once adopted)."""
        if what in (SESSION_EXPIRED, SIGNED_OUT):
            return self._end(SESSION_EXPIRED, None, "ended in another tab (" + what + ")")
        if what == "ask":  # a tab without a refresh token; answered only with tokens not about to rotate
            if not (self.carries_refresh and self.refresh_token is not None and self.session == LIVE):
                return [self.gate()]
            if self.refreshing or self.call_out is not None:  # about to rotate: the renewal's message brings them
                self.promised = self.refreshing
                return [Announce("renewing"), self.gate()]
            return [Announce("share", None, self.token, self.refresh_token), self.gate()]
        if what == "renewing":  # the answer to this tab's ask: the tokens come with the renewal
            if self.carries_refresh and self.refreshing and self.refresh_token is None and not self.told_renewing:
                self.told_renewing = True  # once a round: a stream of them must not hold it for ever
                return [self._wait(RENEWING_WAIT), self.gate()]
            return [self.gate()]
        if self.requires_token and not token:
            return [self.gate()]  # bearer mode without a shared token: this tab renews its own, in turn
        token = token if self.requires_token else None
        if self.carries_refresh:
            if not refresh_token:
                return [self.gate()]
            if what == "share" and not (self.refreshing and self.refresh_token is None):
                return [self.gate()]  # only a tab that asked takes a share: no one else's session is forced on it
            if what == "refreshed" and (self.session != LIVE or self.call_out is not None):
                # Ended here (a sign-in starts again, not a renewal), or this tab's own call is
                # out under the lock, which no other tab could have held: not a renewal to take.
                return [self.gate()]
            if what == "signed-in":
                return self._signed_in(now, token, lifetime)[:-1] + self._keep(refresh_token) + [self.gate()]
            if not fresh and self.refresh_token is not None:
                return [self.gate()]
            commands = self._keep(refresh_token)
            if what == "share" and marker is not None:
                commands.append(Known(marker))  # else this tab would take that renewal for one to come
            return commands + self.remote_refreshed(now, token=token, lifetime=lifetime, tab=tab)
        if what == "signed-in":
            return self._signed_in(now, token, lifetime)
        if not fresh or what == "share":
            return [self.gate()]  # adopted already: this tab read the marker under the lock first
        return self.remote_refreshed(now, token=token, lifetime=lifetime, tab=tab)

    def remote_refreshed(self, now, *, token=None, lifetime=None, tab=None):
        """Another tab renewed the shared credentials (cookie jar, or a shared token).

        Settles this tab's own refresh round as if it had succeeded, without a call: the round
        in flight (waiting for the cross-tab lock) becomes stale, held requests go out.
        """
        self.session = LIVE
        self._new_epoch()
        commands = self._new_credentials(now, token if token else self.token, lifetime)
        fields = {"generation": self.generation, "source": "remote", "tab": tab}
        return commands + [Emit("refresh", fields), self.gate()]

    def signed_in(self, now, *, token=None, lifetime=None, refresh_token=None):
        """A sign-in answered 2xx: the session is live again with fresh credentials (and, where
        the server hands it out, the refresh token: None if the answer had none)."""
        commands = self._signed_in(now, token if self.requires_token else None, lifetime)
        if self.carries_refresh:
            commands[-1:-1] = self._keep(refresh_token)
        if self.cross_tab:
            commands.insert(-1, Announce("signed-in", self._lifetime(lifetime), self.token, self.refresh_token))
        return commands

    def end_session(self, reason=SIGNED_OUT, *, status=None, error=None):
        """The session is over: ``SESSION_EXPIRED`` (the server said so), ``NO_SESSION`` (it
        said so on a page that never had one: a first visit) or ``SIGNED_OUT`` (this page)."""
        commands = self._end(reason, status, error)
        if reason == SIGNED_OUT and self.cross_tab:
            commands.insert(-1, Announce(SIGNED_OUT))
        return commands

    def call_ended(self, now, call):
        """The task of refresh call ``call`` is over, whatever it told (or failed to tell)
        before: it is no longer on the wire, and a round that waited for it may call now."""
        return self._landed(call) + [self.gate()]

    def reopen(self, now):
        """A client came back before the session was let go: renewals ahead of expiry resume
        where close() left them, and retries are for the clients there are again."""
        self.closed = False
        self.refresh_at, self.parked_refresh_at = self.parked_refresh_at, None
        if self.refresh_at is None or self.session != LIVE:
            self.refresh_at = None
            return [self.gate()]
        return [Schedule(max(0.0, self.refresh_at - now)), self.gate()]

    def close(self, now=None):
        """No client is left. Requests still out settle as ever, but nothing is renewed ahead
        of expiry any more, and a refresh round with no request waiting gives up."""
        self.closed = True
        self.parked_refresh_at, self.refresh_at = self.refresh_at, None
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
        self.call_waits = False
        self.promised = False

    def _new_epoch(self):
        """Sign-in or sign-out: a refresh still running belongs to the old session."""
        self.epoch += 1
        self._end_round()

    @staticmethod
    def _lifetime(lifetime):
        """A lifetime as used: seconds above 0 and at most MAX_LIFETIME, else None (unknown)."""
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or not 0 < lifetime <= MAX_LIFETIME:
            return None
        return float(lifetime)

    def _new_credentials(self, now, token, lifetime):
        """Generation +1; renew ahead of expiry by ``leeway``, but never past half the lifetime
        (a 5 s token with a 30 s leeway would otherwise refresh before every request)."""
        self.generation += 1
        self.token = token
        self.known = True
        lifetime = self._lifetime(lifetime)
        self.refresh_at = self.parked_refresh_at = None
        if lifetime is None or self.leeway is None:
            return [Schedule(None)]
        ahead = min(self.leeway, lifetime / 2)
        if self.closed:  # no client to renew for now; put aside, in case one comes back (reopen)
            self.parked_refresh_at = now + lifetime - ahead
            return [Schedule(None)]
        self.refresh_at = now + lifetime - ahead
        return [Schedule(lifetime - ahead)]

    def _signed_in(self, now, token, lifetime):
        self.session = LIVE
        self._new_epoch()
        return self._new_credentials(now, token, lifetime) + [self.gate()]

    def _end(self, reason, status, error):
        if self.session != LIVE:
            return [FailWaiting(SESSION_EXPIRED), self.gate()]
        self.session = SIGNED_OUT if reason == SIGNED_OUT else ENDED
        self.refresh_at = self.parked_refresh_at = None
        self.token = None
        self.known = False
        self._new_epoch()  # whatever round runs ends with the session (another tab's end too)
        commands = self._keep(None) + [FailWaiting(SESSION_EXPIRED), Schedule(None)]
        if reason != SIGNED_OUT:  # "no-session": a first visit, not signed in yet; no alarm
            commands.append(Emit(reason, {"status": status, "error": error}))
        return commands + [self.gate()]

    def _worth_retrying(self, waiting):
        return not self.closed or bool(waiting)

    def _give_up(self, status, error):
        """The refresh round ends without new credentials; the session is kept."""
        promised = self.promised and self.carries_refresh and self.refresh_token is not None
        self._end_round()
        self.recalled_generation = None  # the credential is still the stale one: recall again next time
        message = error or (f"refresh answered {status}" if status else "the refresh failed")
        # A tab told "renewing" waits for tokens: the ones there are, unrenewed, are what it gets.
        shared = [Announce("share", None, self.token, self.refresh_token)] if promised else []
        return shared + [
            FailWaiting(REFRESH_FAILED, message),
            Emit("refresh-failed", {"status": status, "error": error}),
            self.gate(),
        ]

    def _rotated(self, answer, call):
        """A 2xx answer rotated the refresh token that ``call`` carried: the one held here is
        spent, whatever else the answer says (its access token unusable, or its round over by
        now: the server rotated all the same), so the answer's is taken before anything sends
        again, and told to the tabs sharing it. A full success is refresh_succeeded's to tell."""
        if not (self.carries_refresh and 200 <= answer.status < 300 and answer.refresh_token and call is not None
                and call == self.call_out and self.call_token == self.refresh_token and self.session == LIVE):
            return []
        commands = self._keep(answer.refresh_token)
        succeeded = answer.problem is None and answer.token is not None and self.call_epoch == self.epoch
        if commands and self.cross_tab and not succeeded:
            commands.append(Announce("refreshed", None, self.token, self.refresh_token))
        return commands

    def _wait(self, delay):
        self.waits += 1
        return WaitForTabs(delay, self.epoch, self.waits)

    def _keep(self, refresh_token):
        """The refresh token is now ``refresh_token``; Keep tells the driver (body mode only)."""
        if not self.carries_refresh or refresh_token == self.refresh_token:
            return []
        self.refresh_token = refresh_token
        return [Keep(refresh_token)]

    def _attempt(self, reason):
        """The next step of an attempt: the cross-tab lock first where tabs share the session."""
        self.attempt_reason = reason
        if self.cross_tab:
            return [TakeLock(self.epoch)]
        return self._call()

    def _call(self):
        """The refresh call, unless one is still on the wire (a stale epoch's, after a fault or a
        sign-in): then it waits for that one to land. Two calls out at once would present one
        refresh token twice, and with rotation the server revokes the whole family."""
        if self.call_out is not None:
            self.call_waits = True
            return []
        if self.carries_refresh and self.refresh_token is None:  # nothing to send (defensive: see _begin_refresh)
            self._end_round()
            return self._end(SESSION_EXPIRED if self.known else NO_SESSION, None, "no refresh token")[:-1]
        self.calls += 1
        self.call_out = self.calls
        self.call_token = self.refresh_token
        self.call_epoch = self.epoch
        return [StartRefresh(self.attempt, self.attempt_reason, self.epoch, self.calls, self.refresh_token)]

    def _forget_calls_not_out(self, calls_out):
        if calls_out is not None and self.call_out is not None and self.call_out not in calls_out:
            self.call_out = None  # its StartRefresh was lost with the fault: nothing to wait for

    def _landed(self, call):
        """Call ``call`` has come back: the round's own call may go now if it waited for it."""
        if call is None or call != self.call_out:
            return []
        self.call_out = None
        if not (self.call_waits and self.refreshing and self.session == LIVE):
            return []
        self.call_waits = False
        return self._attempt(self.attempt_reason)

    def _begin_refresh(self, reason):
        self.told_renewing = False
        if self.carries_refresh and self.refresh_token is None:
            # Nothing to refresh with: no session here, unless another tab shares one.
            if not self.cross_tab:
                return self._end(SESSION_EXPIRED if self.known else NO_SESSION, None, "no refresh token")[:-1]
            self.refreshing = True
            self.attempt = 1
            self.reason = reason
            return [Announce("ask"), self._wait(ASK_WAIT), Emit("refresh-start", {"reason": reason, "attempt": 1})]
        self.refreshing = True
        self.attempt = 1
        self.reason = reason
        self.stats.refreshes += 1
        return self._attempt(reason) + [Emit("refresh-start", {"reason": reason, "attempt": 1})]
