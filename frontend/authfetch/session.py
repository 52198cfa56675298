"""The async driver: carries requests through the engine and the coordinator's commands out.

One Session per refresh URL (and transport), shared by every AuthClient that names that URL,
so two clients never refresh twice. A request costs one engine call and one await: the engine
holds, paces and replays it, and reports to this session only what needs a decision (a
refresh-wanted answer, a request past the renewal's due time). The refresh runs in a task.
"""

import json

from . import tokens
from .compat import CancelledError, call_later, cancel, monotonic, random, spawn
from .config import CREDENTIALED
from .coordinator import LIVE, NON_REPLAYABLE, REFRESH_FAILED, SESSION_EXPIRED, Coordinator
from .errors import AuthFetchError, NetworkError, NonReplayableBody, RefreshFailed, RequestTimeout, SessionExpired, UsageError
from .events import Event
from .models import Request, Response
from .tabs import TabSync, warn_once

_sessions = {}


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


class Session:
    def __init__(self, options, transport):
        self.options = options
        self.transport = transport
        self.coordinator = Coordinator(refresh_retries=options.refresh_retries, leeway=options.leeway, random=random)
        # One bound method, kept: MicroPython does not compare two bound methods as equal.
        self._on_report = self._reported
        self.wire = transport.wire(max_in_flight=options.max_in_flight, paced_origin=options.refresh_origin)
        if hasattr(self.wire, "when_ready"):  # engine.js still loading: talk to it directly once it is
            self.wire.when_ready(self._use_wire)
        self.wire.listen(self._on_report)
        self.refresh_profile = self.wire.profile(options.profile())
        self.listeners = []  # (client, name, callback)
        self._next_ident = 0
        self._last_refresh_error = None
        self._seen = False  # the page showed a session when the refresh round began
        self._wake_timer = None
        self.clients = []
        if hasattr(transport, "on_wake"):
            self._on_wake = self.wake
            transport.on_wake(self._on_wake)  # visible again or back online: renew if it is time
        self.tabs = None
        if options.cross_tab:
            if getattr(transport, "tabs_available", lambda: False)():
                self.tabs = TabSync(self, transport, lock_timeout=options.lock_timeout, share_token=options.share_token)
            else:
                warn_once("no Web Locks or BroadcastChannel here: refreshes are coordinated within this tab only")

    def _use_wire(self, wire):
        self.wire = wire
        self._trace_if_watched()

    def close(self, client):
        """``client`` is done; the last one out stops timers and leaves the shared registry."""
        if client in self.clients:
            self.clients.remove(client)
        self.listeners = [entry for entry in self.listeners if entry[0] is not client]
        self._trace_if_watched()
        if self.clients:
            return
        self._apply(self.coordinator.close())
        if hasattr(self.transport, "off_wake"):
            self.transport.off_wake(self._on_wake)  # the page's wake-up events must not reach it
        if self.tabs is not None:
            self.tabs.close()
        for key, session in list(_sessions.items()):
            if session is self:
                del _sessions[key]

    def wake(self):
        self._apply(self.coordinator.wake(monotonic()))

    def _timer(self):
        self._apply(self.coordinator.timer(monotonic()))

    # -- listeners ------------------------------------------------------------------------------

    def listen(self, entry):
        self.listeners.append(entry)
        self._trace_if_watched()

        def unsubscribe():
            if entry in self.listeners:
                self.listeners.remove(entry)
                self._trace_if_watched()

        return unsubscribe

    def _trace_if_watched(self):
        """The engine reports each request's steps only while a "request" listener exists: a
        report per step is a crossing into Python, which no page pays unless it asks."""
        self.wire.trace(any(entry[1] == "request" for entry in self.listeners))

    def _emit(self, name, **fields):
        event = Event(name, **fields)
        for client, wanted, callback in list(self.listeners):
            if wanted == name or (wanted == "*" and name != "request"):  # "*": not per request
                try:
                    callback(event)
                except Exception as error:  # a broken listener must not break requests
                    print(f"authfetch: listener for {name!r} raised {error!r}")

    # -- requests -------------------------------------------------------------------------------

    def ident(self):
        """A new number for a request (the engine's reports name requests by it)."""
        self._next_ident += 1
        return self._next_ident

    async def perform(self, profile, request, flags):
        """Send ``request`` through the engine; its Response, or the error it ended with.
        (AuthClient inlines this for its requests: a coroutine level costs MicroPython.)"""
        ident = self.ident()
        try:
            answer = await self.wire.submit(ident, profile, request, flags)
        except CancelledError:
            self.wire.cancel(ident)  # nothing more is sent for it
            raise
        return self.outcome(request, answer)

    def outcome(self, request, answer):
        """The engine's answer: a number for a response (kept id and status), else a failure."""
        if type(answer) is int:
            return Response(answer % 1000, request, self.wire, answer // 1000)
        raise self._failure(request, str(answer))

    def _failure(self, request, answer):
        code, kept, status, message = answer.split("|", 3)
        response = None
        if kept != "0":
            response = Response(int(status), request=request, source=self.wire, kept=int(kept))
        described = f"{request.method} {request.url}"
        if code == SESSION_EXPIRED:
            return SessionExpired(
                f"the session has ended; sign in again ({described} was not completed)",
                request=request,
                response=response,
            )
        if code == REFRESH_FAILED:
            return RefreshFailed(
                f"could not renew the session for {described}: {self._last_refresh_error}",
                request=request,
                response=response,
                cause=self._last_refresh_error,
            )
        if code == NON_REPLAYABLE:
            return NonReplayableBody(
                f"{described} got {response.status} and its body could be sent only once (a stream, "
                f"or a generator or file handed to requests), so it cannot be replayed; the session "
                f"was renewed: send a new request",
                request=request,
                response=response,
            )
        if code == "timeout":
            return RequestTimeout(
                f"{described} took longer than its timeout of {request.timeout} s",
                request=request,
                response=response,
            )
        return NetworkError(f"{described} failed: {message}", request=request, response=response)

    # -- what the engine reports ----------------------------------------------------------------

    def _reported(self, text):
        """A batch of reports from the engine: refresh-wanted answers, due renewals, replays."""
        now = monotonic()
        commands = []
        for item in json.loads(str(text)):
            kind = item[0]
            if kind == "answered":
                ident, generation, replayed, replayable, seen = item[1:]
                commands += self.coordinator.answered(
                    ident, generation, now, replayed=replayed, replayable=replayable, seen=seen
                )
            elif kind == "due":
                commands += self.coordinator.due(now, seen=item[1])
            elif kind == "authenticated":
                commands += self.coordinator.authenticated(item[1], now)
            elif kind == "replay":
                self._emit("replay", request=Request(item[2], item[3]))
            elif kind == "trace":
                ident, phase, at, status, attempt, detail = item[1:]
                self._emit("request", ident=ident, phase=phase, at=at, status=status, attempt=attempt, detail=detail)
        self._apply(commands)

    # -- commands -------------------------------------------------------------------------------

    def _apply(self, commands):
        """Carry the coordinator's commands out, in order; the engine's in as few calls as may be."""
        batch = []
        for command in commands:
            kind = command.kind
            if kind == "gate":
                batch.append(["gate", command.state, command.generation, command.token, command.seen, command.reason])
            elif kind == "verdict":
                batch.append(["verdict", command.ident, command.what, command.reason])
            elif kind == "recall":
                batch.append(["recall", command.generation])
            elif kind == "fail-waiting":
                batch.append(["failWaiting", command.reason])
            elif kind == "schedule":
                batch.append(["due", None if command.delay is None else command.delay * 1000])
                cancel(self._wake_timer)
                self._wake_timer = None if command.delay is None else call_later(command.delay, self._timer)
            else:
                if batch:
                    self.wire.apply(batch)
                    batch = []
                if kind == "start-refresh":
                    spawn(self._refresh(command.epoch))
                elif kind == "retry-refresh":
                    call_later(command.delay, lambda epoch=command.epoch: self._retry(epoch))
                elif kind == "emit":
                    self._emit(command.name, **command.fields)
        if batch:
            self.wire.apply(batch)

    def _retry(self, epoch):
        self._apply(self.coordinator.retry_refresh(monotonic(), epoch=epoch, waiting=self.wire.pending()))

    # -- the refresh ----------------------------------------------------------------------------

    async def _refresh(self, epoch):
        if self.tabs is None:
            return await self._refresh_call(epoch)
        try:
            await self.tabs.refresh(epoch, self._refresh_call)
        except AuthFetchError as error:  # the cross-tab lock was not granted in time
            self._failed(epoch, error=str(error))

    def _failed(self, epoch, **outcome):
        self._last_refresh_error = outcome.get("error")
        waiting = self.wire.pending()
        self._apply(self.coordinator.refresh_failed(monotonic(), epoch=epoch, waiting=waiting, seen=self._seen, **outcome))

    async def _refresh_call(self, epoch):
        """One refresh call: a credentialed POST outside the gate, so it never waits for itself."""
        # Whether the page shows a session now (its CSRF cookie), before an answer clears it:
        # a refusal then ends a session, else it only says there is none (a first visit).
        self._seen = bool(self.options.csrf_cookie and self.transport.read_cookie(self.options.csrf_cookie))
        request = Request("POST", self.options.refresh_url, timeout=self.options.refresh_timeout)
        try:
            response = await self.perform(self.refresh_profile, request, CREDENTIALED)
            body = None
            try:
                body = await response.json()
            except (AuthFetchError, ValueError, UnicodeError):
                body = None
        except RequestTimeout:
            return self._failed(epoch, error="timed out")
        except AuthFetchError as error:
            return self._failed(epoch, error=str(error))
        self._refresh_answered(response, body, epoch)

    def _refresh_answered(self, response, body, epoch):
        status = response.status
        if 200 <= status < 300:
            token = tokens.lookup(body, self.options.token_field) if isinstance(body, dict) else None
            if self.options.mode == "bearer" and not (isinstance(token, str) and token):
                return self._failed(epoch, status=status, error=f"refresh answered {status} without {self.options.token_field}")
            if epoch != self.coordinator.epoch:
                return  # from before a sign-in or sign-out: its token is not this session's
            lifetime = tokens.lifetime(body, token) if isinstance(body, dict) else None
            self._apply(self.coordinator.refresh_succeeded(monotonic(), token=self._bearer(token), lifetime=lifetime, epoch=epoch))
            if self.tabs is not None:
                self.tabs.refreshed(lifetime, token)
            return
        message = body.get("message") if isinstance(body, dict) else None
        was_live = self.coordinator.session == LIVE
        self._failed(
            epoch,
            status=status,
            definitive=message == "refresh_token_reused",
            retry_after=_retry_after(response.headers.get("retry-after")),
            error=f"refresh answered {status}" + (f" ({message})" if message else ""),
        )
        if was_live and self.coordinator.session != LIVE and self.tabs is not None:
            self.tabs.ended("session-expired")

    def _bearer(self, token):
        return token if self.options.mode == "bearer" else None

    # -- sign in and out ------------------------------------------------------------------------

    def signed_in(self, token, lifetime):
        self.adopt_sign_in(token, lifetime)
        if self.tabs is not None:
            self.tabs.signed_in(lifetime, token)

    def signed_out(self):
        self._apply(self.coordinator.end_session())
        if self.tabs is not None:
            self.tabs.ended("signed-out")

    # -- what other tabs tell us ----------------------------------------------------------------

    def can_adopt(self, token):
        """A renewal elsewhere is usable here: cookies are shared, a bearer token only if sent."""
        return self.options.mode == "cookie" or bool(token)

    def adopt_sign_in(self, token, lifetime):
        self._apply(self.coordinator.signed_in(monotonic(), token=self._bearer(token), lifetime=lifetime))

    def adopt_remote(self, token, lifetime, tab=None):
        token = self._bearer(token) or self.coordinator.token
        self._apply(self.coordinator.remote_refreshed(monotonic(), token=token, lifetime=lifetime, tab=tab))

    def remote_ended(self, kind):
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
