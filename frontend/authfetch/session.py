"""The async driver: carries out the coordinator's commands with a transport.

One Session per refresh URL (and transport), shared by every AuthClient that names that URL,
so two clients never refresh twice. Each request runs in its caller's own coroutine: the
session only wakes it with a verdict (send, deliver, fail); the refresh runs in a task.
"""

from . import tokens
from .config import AUTO, SAFE_METHODS
from .compat import call_later, cancel, monotonic, random, spawn, Signal
from .coordinator import LIVE, NON_REPLAYABLE, REFRESH_FAILED, SESSION_EXPIRED, Coordinator, Ticket
from .errors import AuthFetchError, NonReplayableBody, RefreshFailed, RequestTimeout, SessionExpired, UsageError
from .events import Event
from .models import Headers, Request
from .tabs import TabSync, warn_once

_sessions = {}
TIMED_OUT = "timed-out"
AUTO_CHECKS = 3  # answers after which an unknown protocol stays unknown (no limit)


def session_for(options, transport):
    """The Session shared by clients with this refresh URL on this transport."""
    key = (options.refresh_url, id(transport))
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = Session(options, transport)
    elif session.options.mode != options.mode:
        raise UsageError(
            f"mode={options.mode!r} conflicts with an existing client for {options.refresh_url} "
            f"(mode={session.options.mode!r}); clients sharing a refresh URL share one session"
        )
    return session


class Job:
    """A request in progress: its ticket, its caller's wake-up, and what it last got."""

    def __init__(self, client, request, ticket):
        self.client = client
        self.request = request
        self.ticket = ticket
        self.signal = Signal()
        self.verdicts = []
        self.response = None
        self.abort = None
        self.timer = None
        self.timed_out = False
        self.recalled = False

    def recall(self):
        self.recalled = True
        if self.abort is not None:
            self.abort.abort()

    def give(self, verdict):
        self.verdicts.append(verdict)
        self.signal.set()

    async def next(self):
        while not self.verdicts:
            await self.signal.wait()
        if self.timed_out:
            return TIMED_OUT
        return self.verdicts.pop(0)


class Session:
    def __init__(self, options, transport):
        self.options = options
        self.transport = transport
        # "auto": the limit of the refresh URL's origin (the API's), known from the page's own
        # navigation or, failing that, from the first answers; no limit while it is unknown.
        self._auto_checks = AUTO_CHECKS if options.max_in_flight == AUTO else 0
        self.coordinator = Coordinator(
            max_in_flight=self._connection_limit() if self._auto_checks else options.max_in_flight,
            refresh_retries=options.refresh_retries,
            leeway=options.leeway,
            random=random,
        )
        self.token = None  # bearer mode only, in memory only
        self.listeners = []  # (client, name, callback)
        self._jobs = {}
        self._next_ident = 0
        self._last_refresh_error = None
        self._wake_timer = None
        self.clients = []
        if hasattr(transport, "on_wake"):
            # One bound method, kept: MicroPython does not compare two bound methods as equal.
            self._on_wake = self.wake
            transport.on_wake(self._on_wake)  # visible again or back online: renew if it is time
        self.tabs = None
        if options.cross_tab:
            if getattr(transport, "tabs_available", lambda: False)():
                self.tabs = TabSync(
                    self, transport, lock_timeout=options.lock_timeout, share_token=options.share_token
                )
            else:
                warn_once("no Web Locks or BroadcastChannel here: refreshes are coordinated within this tab only")

    def _connection_limit(self):
        limit = getattr(self.transport, "connection_limit", None)
        return limit(self.options.refresh_origin) if limit is not None else None

    def close(self, client):
        """``client`` is done; the last one out stops timers and leaves the shared registry."""
        if client in self.clients:
            self.clients.remove(client)
        self.listeners = [entry for entry in self.listeners if entry[0] is not client]
        if self.clients:
            return
        self._apply(self.coordinator.close())
        cancel(self._wake_timer)
        self._wake_timer = None
        if hasattr(self.transport, "off_wake"):
            self.transport.off_wake(self._on_wake)  # the page's wake-up events must not reach it
        if self.tabs is not None:
            self.tabs.close()
        for key, session in list(_sessions.items()):
            if session is self:
                del _sessions[key]

    def wake(self):
        self._apply(self.coordinator.wake(monotonic()))

    # -- requests -------------------------------------------------------------------------------

    async def perform(self, client, request, *, coordinated):
        self._next_ident += 1
        recallable = request.method in SAFE_METHODS and request.replayable
        # Only requests to the origin the limit is for wait for its slots; others go at once.
        paced = self.options.same_origin_as_refresh(request.url)
        ticket = Ticket(self._next_ident, replayable=request.replayable, recallable=recallable, paced=paced)
        job = Job(client, request, ticket)
        if request.timeout is not None:
            job.timer = call_later(request.timeout, lambda: self._time_out(job))
        try:
            if not coordinated:
                return await self._send(job, replay=False)
            self._jobs[job.ticket.ident] = job
            self._apply(self.coordinator.start(job.ticket, monotonic()))
            while True:
                verdict = await job.next()
                if verdict == TIMED_OUT:
                    raise self._timeout_error(job)
                if verdict.kind == "send":
                    response = await self._sent_unless_recalled(job, verdict.replay)
                    if response is None:
                        continue  # recalled: held for the refresh, its Send comes after
                    if self._auto_checks and self.coordinator.max_in_flight is None:
                        self._auto_checks -= 1  # an answer may have brought a timing entry
                        self.coordinator.max_in_flight = self._connection_limit()
                    job.response = response
                    wanted = client.refresh_wanted(response)
                    self._apply(self.coordinator.response(job.ticket, response.status, monotonic(), refresh_wanted=wanted))
                elif verdict.kind == "deliver":
                    return job.response
                else:
                    raise self._failure(job, verdict.reason)
        finally:
            cancel(job.timer)
            self._jobs.pop(job.ticket.ident, None)
            if coordinated:
                self._apply(self.coordinator.abandon(job.ticket, monotonic()))

    async def _sent_unless_recalled(self, job, replay):
        """Send; None if the coordinator recalled the ticket meanwhile (its fetch was aborted,
        or its answer, whatever it is, belongs to a credential already known to be stale)."""
        if job.recalled:  # recalled before its coroutine got to send it: nothing went out
            job.recalled = False
            return None
        try:
            response = await self._send(job, replay=replay)
        except AuthFetchError:
            if not job.recalled or job.timed_out:
                raise
            response = None
        if job.recalled:
            job.recalled = False
            if response is not None and hasattr(self.transport, "discard"):
                self.transport.discard(response)  # its answer is not wanted: free it now
            return None
        return response

    async def _send(self, job, *, replay):
        if replay:
            self._emit("replay", request=job.request)
        wants_abort = job.request.timeout is not None or job.ticket.recallable
        job.abort = self.transport.abort_handle() if wants_abort else None
        headers, credentials = job.client.outgoing(job.request, self.token)
        try:
            return await self.transport.send(job.request, headers=headers, credentials=credentials, abort=job.abort)
        except AuthFetchError:
            if job.timed_out:
                raise self._timeout_error(job) from None
            raise
        finally:
            job.abort = None

    def _time_out(self, job):
        job.timed_out = True
        if job.abort is not None:
            job.abort.abort()
        job.give(TIMED_OUT)

    def _timeout_error(self, job):
        return RequestTimeout(
            f"{job.request.method} {job.request.url} took longer than its timeout of {job.request.timeout} s",
            request=job.request,
            response=job.response,
        )

    def _failure(self, job, reason):
        request, response = job.request, job.response
        if reason == SESSION_EXPIRED:
            return SessionExpired(
                f"the session has ended; sign in again ({request.method} {request.url} was not completed)",
                request=request,
                response=response,
            )
        if reason == REFRESH_FAILED:
            return RefreshFailed(
                f"could not renew the session for {request.method} {request.url}: {self._last_refresh_error}",
                request=request,
                response=response,
                cause=self._last_refresh_error,
            )
        if reason == NON_REPLAYABLE:
            return NonReplayableBody(
                f"{request.method} {request.url} got {response.status} and its body is a stream that was already "
                f"sent, so it cannot be replayed; the session was renewed: send a new request",
                request=request,
                response=response,
            )
        return AuthFetchError(f"{request.method} {request.url} failed: {reason}", request=request, response=response)

    # -- commands -------------------------------------------------------------------------------

    def _apply(self, commands):
        for command in commands:
            kind = command.kind
            if kind in ("send", "deliver", "fail"):
                job = self._jobs.get(command.ticket.ident)
                if job is not None:
                    job.give(command)
            elif kind == "recall":
                job = self._jobs.get(command.ticket.ident)
                if job is not None:
                    job.recall()
            elif kind == "start-refresh":
                spawn(self._refresh(command.epoch))
            elif kind == "retry-refresh":
                call_later(command.delay, lambda epoch=command.epoch: self._retry(epoch))
            elif kind == "schedule":
                cancel(self._wake_timer)
                self._wake_timer = call_later(command.delay, self.wake)
            elif kind == "emit":
                self._emit(command.name, **command.fields)

    def _retry(self, epoch):
        self._apply(self.coordinator.retry_refresh(monotonic(), epoch=epoch))

    def _emit(self, name, **fields):
        event = Event(name, **fields)
        for client, wanted, callback in list(self.listeners):
            if wanted == name or wanted == "*":
                try:
                    callback(event)
                except Exception as error:  # a broken listener must not break requests
                    print(f"authfetch: listener for {name!r} raised {error!r}")

    # -- the refresh ----------------------------------------------------------------------------

    async def _refresh(self, epoch):
        if self.tabs is None:
            return await self._refresh_call(epoch)
        try:
            await self.tabs.refresh(epoch, self._refresh_call)
        except AuthFetchError as error:  # the cross-tab lock was not granted in time
            self._last_refresh_error = str(error)
            self._apply(self.coordinator.refresh_failed(monotonic(), error=str(error), epoch=epoch))

    async def _refresh_call(self, epoch):
        """One refresh call, sent with the plain transport, never through the wrapped path."""
        options = self.options
        headers = Headers()
        csrf = options.csrf_cookie and self.transport.read_cookie(options.csrf_cookie)
        if csrf and options.csrf_header:
            headers.set(options.csrf_header, csrf)
        request = Request("POST", options.refresh_url, headers=headers, timeout=options.refresh_timeout)
        abort = self.transport.abort_handle()
        timer = call_later(options.refresh_timeout, abort.abort)
        try:
            response = await self.transport.send(request, headers=headers, credentials=True, abort=abort)
            body = None
            try:
                body = await response.json()
            except (AuthFetchError, ValueError, UnicodeError):
                body = None
        except AuthFetchError as error:
            reason = "timed out" if abort.aborted else str(error)
            self._last_refresh_error = reason
            self._apply(self.coordinator.refresh_failed(monotonic(), error=reason, epoch=epoch))
            return
        finally:
            cancel(timer)
        self._refresh_answered(response, body, epoch)

    def _refresh_answered(self, response, body, epoch):
        now = monotonic()
        status = response.status
        if 200 <= status < 300:
            token = tokens.lookup(body, self.options.token_field) if isinstance(body, dict) else None
            if self.options.mode == "bearer" and not (isinstance(token, str) and token):
                self._last_refresh_error = f"refresh answered {status} without {self.options.token_field}"
                self._apply(
                    self.coordinator.refresh_failed(now, status=status, error=self._last_refresh_error, epoch=epoch)
                )
                return
            if epoch != self.coordinator.epoch:
                return  # from before a sign-in or sign-out: its token is not this session's
            if self.options.mode == "bearer":
                self.token = token
            lifetime = tokens.lifetime(body, token) if isinstance(body, dict) else None
            self._apply(self.coordinator.refresh_succeeded(now, lifetime=lifetime, epoch=epoch))
            if self.tabs is not None:
                self.tabs.refreshed(lifetime, token)
            return
        message = body.get("message") if isinstance(body, dict) else None
        self._last_refresh_error = f"refresh answered {status}" + (f" ({message})" if message else "")
        was_live = self.coordinator.session == LIVE
        self._apply(
            self.coordinator.refresh_failed(
                now,
                status=status,
                definitive=message == "refresh_token_reused",
                retry_after=_retry_after(response.headers.get("retry-after")),
                error=self._last_refresh_error,
                epoch=epoch,
            )
        )
        if was_live and self.coordinator.session != LIVE and self.tabs is not None:
            self.tabs.ended("session-expired")

    # -- sign in and out ------------------------------------------------------------------------

    def signed_in(self, token, lifetime):
        self.adopt_sign_in(token, lifetime)
        if self.tabs is not None:
            self.tabs.signed_in(lifetime, token)

    def signed_out(self):
        self.token = None
        self._apply(self.coordinator.end_session())
        if self.tabs is not None:
            self.tabs.ended("signed-out")

    # -- what other tabs tell us ----------------------------------------------------------------

    def can_adopt(self, token):
        """A renewal elsewhere is usable here: cookies are shared, a bearer token only if sent."""
        return self.options.mode == "cookie" or bool(token)

    def adopt_sign_in(self, token, lifetime):
        if self.options.mode == "bearer":
            self.token = token
        self._apply(self.coordinator.signed_in(monotonic(), lifetime=lifetime))

    def adopt_remote(self, token, lifetime, tab=None):
        if self.options.mode == "bearer" and token:
            self.token = token
        self._apply(self.coordinator.remote_refreshed(monotonic(), lifetime=lifetime, tab=tab))

    def remote_ended(self, kind):
        self.token = None
        self._apply(self.coordinator.end_session(SESSION_EXPIRED, error="ended in another tab (" + kind + ")"))


def _retry_after(value):
    """Seconds from a Retry-After header (the delta form; an HTTP date is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
