"""The coordinator: every decision authfetch makes, and no I/O.

Theory of operation
-------------------
Requests that carry credentials are *tickets*. The coordinator is told what happens to them
(started, answered, abandoned) and what happens to the refresh (succeeded, failed), each with
the current time, and answers with *commands* for the driver to carry out: Send, Recall,
Deliver, Fail, StartRefresh, RetryRefresh, Schedule, Emit. It never sends, waits or sleeps itself.

Credentials have a *generation*: 0 at start, +1 on every successful refresh or sign-in. A
ticket remembers the generation it was sent with, so a 401 is read correctly:

    401, ticket.generation == current, no refresh running   -> start the refresh, hold ticket
    401, ticket.generation == current, refresh running      -> hold ticket (join the refresh)
    401, ticket.generation <  current                       -> replay now: already refreshed
    401 on a replay, or a body that cannot be replayed      -> give the 401 back, no loop

The first 401 of a generation also *recalls* the other tickets still out with that generation
whose method is safe (GET, HEAD, OPTIONS): Recall(ticket) tells the driver to abort the fetch,
and the ticket is held for the refresh as its replay. Most of them are still queued inside the
browser (six connections per origin over HTTP/1.1), so a burst costs one 401, not one per
request. Unsafe methods are never recalled: one may already be at the server, and an abort
would not tell us whether it was handled.

A ticket that is not yet sent waits in ``waiting`` while a refresh runs (it would only carry a
credential known to be stale) or while ``max_in_flight`` tickets are out. The refresh outcome:

    success                       -> generation += 1; every waiting ticket is sent (replays
                                     flagged); emit "refresh"
    400 / 401 / 403 / reused      -> session ends: every waiting ticket fails SESSION_EXPIRED,
                                     "session-expired" once; later tickets fail unsent until a
                                     sign-in
    anything else (network, 5xx,  -> retry after jittered exponential backoff (Retry-After
    408, 429, bad body, timeout)     honoured) up to ``refresh_retries``; then every waiting
                                     ticket fails REFRESH_FAILED, "refresh-failed", the session
                                     is kept and the next ticket tries again

When a response tells the credential's lifetime, it is renewed ahead of expiry: ``leeway``
seconds before, or at half its life if that is later. The coordinator returns Schedule(delay)
and the driver calls ``wake`` then (and when the page becomes visible or goes back online);
a ticket started past that point also starts the renewal. Lifetimes are measured from arrival
on this machine's monotonic clock, so a skewed clock on either side changes nothing.

When the last client closes (``close``), nothing is renewed ahead of expiry any more and a
refresh round that no request waits for gives up instead of retrying.

A sign-in or sign-out starts a new *epoch*: a refresh still in flight from before reports
with its old epoch and is ignored, so it can neither end nor renew the new session.
"""

LIVE = "live"
ENDED = "ended"
SIGNED_OUT = "signed-out"

SESSION_EXPIRED = "session-expired"
REFRESH_FAILED = "refresh-failed"
NON_REPLAYABLE = "non-replayable"

DEFINITIVE_REFRESH_STATUSES = (400, 401, 403)
DEFAULT_REFRESH_RETRIES = 3
DEFAULT_LEEWAY = 30.0
BACKOFF_BASE = 0.25  # seconds before the first retry, doubled each time, then jittered
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 30.0  # a longer Retry-After gives up now instead of holding requests


class Ticket:
    """One credentialed request as the coordinator sees it."""

    def __init__(self, ident, *, replayable=True, recallable=False, paced=True):
        self.ident = ident
        self.replayable = replayable
        self.recallable = recallable  # a safe method: the driver may abort it and send it again
        self.paced = paced  # counts against max_in_flight (it goes to the origin the limit is for)
        self.generation = None  # generation it was last sent with
        self.replayed = False
        self.state = "new"  # new -> waiting / in-flight -> done


class Send:
    kind = "send"

    def __init__(self, ticket, generation, replay):
        self.ticket = ticket
        self.generation = generation
        self.replay = replay


class Recall:
    """Abort this ticket's fetch and ignore what it brings: it is held and will be sent again."""

    kind = "recall"

    def __init__(self, ticket):
        self.ticket = ticket


class Deliver:
    kind = "deliver"

    def __init__(self, ticket):
        self.ticket = ticket


class Fail:
    kind = "fail"

    def __init__(self, ticket, reason):
        self.ticket = ticket
        self.reason = reason


class StartRefresh:
    kind = "start-refresh"

    def __init__(self, attempt, reason, epoch):
        self.attempt = attempt
        self.reason = reason
        self.epoch = epoch  # hand it back with the outcome; a stale outcome is ignored


class Schedule:
    """Call ``wake`` after ``delay`` seconds (replaces any earlier Schedule)."""

    kind = "schedule"

    def __init__(self, delay):
        self.delay = delay


class RetryRefresh:
    kind = "retry-refresh"

    def __init__(self, attempt, delay, epoch):
        self.attempt = attempt
        self.delay = delay
        self.epoch = epoch  # hand it back to retry_refresh; a timer from an older epoch is ignored


class Emit:
    kind = "emit"

    def __init__(self, name, fields):
        self.name = name
        self.fields = fields


class Stats:
    def __init__(self):
        self.refreshes = 0  # refresh calls started, retries included
        self.refresh_successes = 0
        self.replays = 0
        self.recalls = 0  # tickets taken back from the browser after a 401 of their generation
        self.max_held = 0  # most tickets waiting at once

    def as_dict(self):
        return {
            "refreshes": self.refreshes,
            "refresh_successes": self.refresh_successes,
            "replays": self.replays,
            "recalls": self.recalls,
            "max_held": self.max_held,
        }


class Coordinator:
    def __init__(
        self,
        *,
        max_in_flight=None,
        refresh_retries=DEFAULT_REFRESH_RETRIES,
        leeway=DEFAULT_LEEWAY,
        random=None,
    ):
        self.max_in_flight = max_in_flight
        self.refresh_retries = refresh_retries
        self.leeway = leeway
        self._random = random or (lambda: 0.5)
        self.generation = 0
        self.session = LIVE
        self.refreshing = False
        self.attempt = 0  # refresh attempts in the current round
        self.epoch = 0  # +1 at each sign-in or sign-out: refresh outcomes from before are stale
        self.refresh_at = None  # when to renew ahead of expiry, on the monotonic clock
        self.in_flight_paced = 0  # tickets in flight that max_in_flight counts
        self.closed = False  # no client left: no renewals, no retries for nobody
        self.flying = {}  # ident -> ticket, for the tickets in flight
        self.recalled_generation = None  # the generation whose stale tickets were recalled
        self.waiting = []
        self.stats = Stats()

    # -- inputs -------------------------------------------------------------------------------

    def start(self, ticket, now):
        """A credentialed request wants to go out."""
        if ticket.state != "new":
            raise ValueError(f"ticket {ticket.ident} already started")
        if self.session != LIVE:
            ticket.state = "done"
            return [Fail(ticket, SESSION_EXPIRED)]
        commands = []
        if not self.refreshing and self._near_expiry(now):
            commands += self._begin_refresh("expiry")
        self._enqueue(ticket)
        return commands + self._pump()

    def response(self, ticket, status, now, *, refresh_wanted):
        """An in-flight ticket got an HTTP response.

        ``refresh_wanted``: the status is one the client refreshes on and no challenge says the
        credential is fine (``insufficient_scope``); the client reads headers, this decides.
        """
        self._take_off_flight(ticket)
        if not refresh_wanted:
            return self._finish(ticket, Deliver(ticket))
        if self.session != LIVE:
            return self._finish(ticket, Fail(ticket, SESSION_EXPIRED))
        if ticket.replayed:
            return self._finish(ticket, Deliver(ticket))
        commands = []
        if ticket.generation == self.generation and not self.refreshing:
            commands += self._begin_refresh("401")
        if ticket.generation == self.generation and self.recalled_generation != self.generation:
            commands += self._recall_stale()
        if not ticket.replayable:
            return commands + self._finish(ticket, Fail(ticket, NON_REPLAYABLE))
        ticket.replayed = True  # its next send is the replay, the last one it gets
        self._enqueue(ticket, front=True)
        return commands + self._pump()

    def abandon(self, ticket, now):
        """The ticket ended outside the coordinator (network error, timeout, cancelled)."""
        if ticket.state == "in-flight":
            self._take_off_flight(ticket)
        elif ticket.state == "waiting":
            self.waiting.remove(ticket)
        if ticket.state == "done":
            return []
        return self._finish(ticket, None)

    def refresh_succeeded(self, now, *, lifetime=None, epoch=None):
        """The refresh call returned new credentials; ``lifetime`` in seconds if known."""
        if self._stale(epoch):
            return []
        self.refreshing = False
        self.attempt = 0
        self.stats.refresh_successes += 1
        commands = self._new_credentials(now, lifetime)
        return commands + [Emit("refresh", {"generation": self.generation, "source": "local"})] + self._pump()

    def refresh_failed(self, now, *, status=None, definitive=False, retry_after=None, error=None, epoch=None):
        """The refresh call failed: an HTTP ``status``, or none for a network error or timeout."""
        if self._stale(epoch):
            return []
        if definitive or status in DEFINITIVE_REFRESH_STATUSES:
            self.refreshing = False
            self.attempt = 0
            return self.end_session(SESSION_EXPIRED, status=status, error=error)
        if self._worth_retrying() and self.attempt <= self.refresh_retries and (
            retry_after is None or retry_after <= MAX_RETRY_AFTER
        ):
            delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (self.attempt - 1))) * (0.5 + self._random())
            if retry_after is not None:
                delay = max(delay, retry_after)
            return [RetryRefresh(self.attempt + 1, delay, self.epoch)]
        return self._give_up(status, error)

    def retry_refresh(self, now, *, epoch=None):
        """The backoff of a RetryRefresh ran out: send the refresh again."""
        if not self.refreshing or self._stale(epoch):
            return []
        if not self._worth_retrying():
            return self._give_up(None, "no client is left to renew for")
        self.attempt += 1
        self.stats.refreshes += 1
        return [StartRefresh(self.attempt, "retry", self.epoch)]

    def remote_refreshed(self, now, *, lifetime=None, tab=None):
        """Another tab renewed the shared credentials (cookie jar, or a shared token).

        Settles this tab's own refresh round as if it had succeeded, without a call: the round
        in flight (waiting for the cross-tab lock) becomes stale, held tickets go out.
        """
        self.session = LIVE
        self._new_epoch()
        commands = self._new_credentials(now, lifetime)
        fields = {"generation": self.generation, "source": "remote", "tab": tab}
        return commands + [Emit("refresh", fields)] + self._pump()

    def close(self):
        """No client is left. Requests still out settle as ever, but nothing is renewed ahead
        of expiry any more, and a refresh round with no request waiting gives up."""
        self.closed = True
        self.refresh_at = None
        return []

    @property
    def in_flight(self):
        return len(self.flying)

    def wake(self, now):
        """A Schedule came due, or the page woke (visible again, back online): renew if it is time."""
        if self.session != LIVE or self.refreshing or not self._near_expiry(now):
            return []
        return self._begin_refresh("expiry")

    def signed_in(self, now, *, lifetime=None):
        """A sign-in answered 2xx: the session is live again with fresh credentials."""
        self.session = LIVE
        self._new_epoch()
        return self._new_credentials(now, lifetime) + self._pump()

    def end_session(self, reason=SIGNED_OUT, *, status=None, error=None):
        """The session is over: ``SESSION_EXPIRED`` (the server said so) or ``SIGNED_OUT``."""
        if self.session != LIVE:
            return self._fail_waiting(SESSION_EXPIRED)
        self.session = ENDED if reason == SESSION_EXPIRED else SIGNED_OUT
        self.refresh_at = None
        if reason == SIGNED_OUT:
            self._new_epoch()
        commands = self._fail_waiting(SESSION_EXPIRED)
        if reason == SESSION_EXPIRED:
            commands.append(Emit("session-expired", {"status": status, "error": error}))
        return commands

    # -- inner workings -----------------------------------------------------------------------

    def _near_expiry(self, now):
        return self.refresh_at is not None and now >= self.refresh_at

    def _stale(self, epoch):
        return epoch is not None and epoch != self.epoch

    def _new_epoch(self):
        """Sign-in or sign-out: a refresh still running belongs to the old session."""
        self.epoch += 1
        self.refreshing = False
        self.attempt = 0

    def _new_credentials(self, now, lifetime):
        """Generation +1; renew ahead of expiry by ``leeway``, but never past half the lifetime
        (a 5 s token with a 30 s leeway would otherwise refresh before every request)."""
        self.generation += 1
        if lifetime is None or self.leeway is None or self.closed:
            self.refresh_at = None
            return []
        ahead = min(self.leeway, lifetime / 2)
        self.refresh_at = now + lifetime - ahead
        return [Schedule(lifetime - ahead)]

    def _worth_retrying(self):
        return not self.closed or bool(self.flying) or bool(self.waiting)

    def _give_up(self, status, error):
        """The refresh round ends without new credentials; the session is kept."""
        self.refreshing = False
        self.attempt = 0
        self.recalled_generation = None  # the credential is still the stale one: recall again next time
        failed = self._fail_waiting(REFRESH_FAILED)
        return failed + [Emit("refresh-failed", {"status": status, "error": error})]

    def _begin_refresh(self, reason):
        self.refreshing = True
        self.attempt = 1
        self.stats.refreshes += 1
        return [StartRefresh(1, reason, self.epoch), Emit("refresh-start", {"reason": reason, "attempt": 1})]

    def _enqueue(self, ticket, front=False):
        ticket.state = "waiting"
        if front:
            self.waiting.insert(0, ticket)
        else:
            self.waiting.append(ticket)

    def _pump(self):
        """Hand waiting tickets to the driver while no refresh runs and slots are free."""
        if self.refreshing or not self.waiting:
            self.stats.max_held = max(self.stats.max_held, len(self.waiting))
            return []
        room = None if self.max_in_flight is None else self.max_in_flight - self.in_flight_paced
        batch, held = [], []
        for ticket in self.waiting:
            if room is None or not ticket.paced:
                batch.append(ticket)
            elif room > 0:
                room -= 1
                batch.append(ticket)
            else:
                held.append(ticket)
        self.waiting = held
        self.stats.max_held = max(self.stats.max_held, len(self.waiting))
        commands = []
        for ticket in batch:
            ticket.state = "in-flight"
            ticket.generation = self.generation
            if ticket.paced:
                self.in_flight_paced += 1
            self.flying[ticket.ident] = ticket
            if ticket.replayed:
                self.stats.replays += 1
            commands.append(Send(ticket, self.generation, ticket.replayed))
        return commands

    def _take_off_flight(self, ticket):
        if ticket.state != "in-flight":
            raise ValueError(f"ticket {ticket.ident} is not in flight (it is {ticket.state})")
        ticket.state = "answered"
        if ticket.paced:
            self.in_flight_paced -= 1
        del self.flying[ticket.ident]

    def _recall_stale(self):
        """A 401 says this generation's credential is stale: take back the safe tickets still
        out with it, before each brings its own 401. Each is held as its replay."""
        self.recalled_generation = self.generation
        commands = []
        for ticket in list(self.flying.values()):
            if ticket.recallable and not ticket.replayed and ticket.generation == self.generation:
                self._take_off_flight(ticket)
                ticket.replayed = True
                self._enqueue(ticket)
                self.stats.recalls += 1
                commands.append(Recall(ticket))
        return commands

    def _finish(self, ticket, command):
        ticket.state = "done"
        commands = [] if command is None else [command]
        return commands + self._pump()

    def _fail_waiting(self, reason):
        commands = []
        for ticket in self.waiting:
            if ticket.state == "waiting":
                ticket.state = "done"
                commands.append(Fail(ticket, reason))
        self.waiting = []
        return commands
