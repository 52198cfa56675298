"""The async driver: carries values into the coordinator and its commands out.

One Session per refresh URL (and transport), shared by every AuthClient that names that URL,
so two clients never refresh twice. A request costs one engine call and one await: the engine
holds, paces and replays it, and reports to this session only what needs a decision (a
refresh-wanted answer, a request past the renewal's due time). The refresh runs in a task.

The session decides nothing. It reads what comes in (the engine's reports, the refresh
answer, another tab's message), hands it to the coordinator as checked values (inputs.py), and
carries the commands out. Every way in is guarded: an exception on the way (a bug, or an input
no check foresaw) becomes the coordinator's ``faulted`` input, which ends the round and
settles what waits, so no request waits for a decision that will never come.
"""

import json

from . import inputs
from .compat import CancelledError, call_later, cancel, monotonic, random, sleep, spawn
from .config import CREDENTIALED, SESSION_STORAGE
from .coordinator import NON_REPLAYABLE, REFRESH_FAILED, SESSION_EXPIRED, Coordinator
from .errors import AuthFetchError, NetworkError, NonReplayableBody, RefreshFailed, RequestTimeout, SessionExpired, UsageError
from .events import Event
from .models import Headers, Request, Response
from .tabs import TabSync, warn_once

_sessions = {}
MAX_TIMER = 86400.0  # seconds: longer delays overflow browsers' timers (2**31 ms); re-armed on waking
RETIRE_CHECK = 0.5  # seconds between looks, after the last client closed, for nothing left to settle


def session_for(options, transport):
    """The Session shared by clients with this refresh URL on this transport."""
    key = (options.refresh_url, id(transport))
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = Session(options, transport)
    elif session.options.mode != options.mode or session.options.server.name != options.server.name or \
            session.options.server.in_body != options.server.in_body:
        raise UsageError(
            f"mode={options.mode!r} (server {options.server.name!r}) conflicts with an existing client for "
            f"{options.refresh_url} (mode={session.options.mode!r}, server {session.options.server.name!r}); "
            f"clients sharing a refresh URL share one session"
        )
    elif not session.clients:  # closing, still settling what it held: one session, one refresh
        session.reopen()
    return session


def for_engine(command):
    """A coordinator command as engine.js's apply() takes it, or None for one carried out here."""
    kind = command.kind
    if kind == "gate":
        return ["gate", command.state, command.generation, command.token, command.seen, command.reason]
    if kind == "verdict":
        return ["verdict", command.ident, command.what, command.reason, command.message]
    if kind == "recall":
        return ["recall", command.generation]
    if kind == "fail-waiting":
        return ["failWaiting", command.reason, command.message]
    if kind == "schedule":
        return ["due", None if command.delay is None else command.delay * 1000]
    return None


def describe(error, where):
    """An unexpected exception, in words, with where it happened (even one that cannot say
    itself: a MemoryError while formatting must not take the fault path down)."""
    try:
        return f"{type(error).__name__}: {error} ({where})"
    except Exception:
        return f"{type(error).__name__} ({where})"


class Session:
    def __init__(self, options, transport):
        self.options = options
        self.transport = transport
        in_body = options.server.in_body
        # A refresh token in the body lives in each tab's memory: tabs have a session each, and
        # nothing to coordinate, unless share_token hands the one token round (then they must).
        wanted = options.cross_tab and (options.share_token or not in_body)
        cross_tab = wanted and getattr(transport, "tabs_available", lambda: False)()
        if wanted and not cross_tab:
            warn_once("no Web Locks or BroadcastChannel here: refreshes are coordinated within this tab only")
        self._stored = "authfetch:refresh-token:" + options.refresh_url
        restored = None
        if in_body and options.refresh_token_storage == SESSION_STORAGE:
            restored = inputs.stored_token(transport.session_get(self._stored))
        self.coordinator = Coordinator(
            refresh_retries=options.refresh_retries,
            leeway=options.leeway,
            random=random,
            requires_token=options.mode == "bearer",
            cross_tab=cross_tab,
            carries_refresh=in_body,
            refresh_token=restored,
        )
        self.wire = transport.wire(max_in_flight=options.max_in_flight, paced_origin=options.refresh_origin)
        # One bound method, kept: MicroPython does not compare two bound methods as equal.
        self._on_report = self._reported
        self.wire.listen(self._on_report)
        self._profiles = 0
        self.refresh_profile = self.add_profile(options, refresh=True)
        self.listeners = []  # (client, name, callback)
        self._next_ident = 0
        self._wake_timer = None
        self._holding = None  # the cross-tab lock's release, while lock_acquired is decided
        self._calls = []  # the numbers of the refresh calls on the wire (their tasks run)
        self._retiring = False
        self.clients = []
        if hasattr(transport, "on_wake"):
            self._on_wake = self.wake
            transport.on_wake(self._on_wake)  # visible again or back online: renew if it is time
        self.tabs = None
        if cross_tab:
            name = "authfetch:" + options.refresh_url
            self.tabs = TabSync(transport, name, lock_timeout=options.lock_timeout, share_token=options.share_token,
                                on_message=self._remote)

    def add_profile(self, options, refresh=False):
        """A number for a client's settings in the engine (forgotten when the client closes)."""
        self._profiles += 1
        self.wire.profile(self._profiles, options.profile(refresh))
        return self._profiles

    def close(self, client):
        """``client`` is done; the last one out stops the timers, and once nothing it held is
        left to settle, the session leaves the registry and lets go of the engine and channel.
        (Until then a new client with this refresh URL takes it up again: one session, one
        refresh call at a time.)"""
        if client in self.clients:
            self.clients.remove(client)
            # A turn later: tasks asked for before close() start first and reach the engine,
            # which keeps what its requests need; only later ones find the number gone.
            call_later(0, lambda number=client._profile: self.wire.forget(number))
        self.listeners = [entry for entry in self.listeners if entry[0] is not client]
        self._trace_if_watched()
        if self.clients:
            return
        self._input(lambda now: self.coordinator.close(now))
        if hasattr(self.transport, "off_wake"):
            self.transport.off_wake(self._on_wake)  # the page's wake-up events must not reach it
        if not self._retiring:
            self._retiring = True
            spawn(self._retire())

    def reopen(self):
        """A client came for this session while it was closing."""
        self._input(lambda now: self.coordinator.reopen(now))
        if hasattr(self.transport, "on_wake"):
            self.transport.on_wake(self._on_wake)

    async def _retire(self):
        try:
            while not self.clients and self._busy():
                await sleep(RETIRE_CHECK)
        finally:
            self._retiring = False
        if self.clients:
            return  # taken up again
        for key, session in list(_sessions.items()):
            if session is self:
                del _sessions[key]
        if self.tabs is not None:
            self.tabs.close()
        self.wire.close()

    def _busy(self):
        """Something is left to settle: a round, a refresh call, the lock, a request waiting."""
        try:
            return bool(self.coordinator.refreshing or self._calls or self._holding or self.wire.pending())
        except Exception:  # whatever failed, let go rather than look for ever
            return False

    def wake(self):
        self._input(lambda now: self.coordinator.wake(now))

    def _timer(self):
        self._input(lambda now: self.coordinator.timer(now))

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
        """The engine's answer, in the one format engine.js builds (forPython): a number
        ``kept * 1000 + status`` for a response, else the text "code|kept|status|message"."""
        if type(answer) is int:
            return Response(answer % 1000, request, self.wire, answer // 1000)
        raise self._failure(request, str(answer))

    def _failure(self, request, answer):
        parts = answer.split("|", 3)
        if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
            return NetworkError(f"{request.method} {request.url} failed: {answer}", request=request)
        code, kept, status, message = parts
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
                f"could not renew the session for {described}: {message}",
                request=request,
                response=response,
                cause=message,
            )
        if code == NON_REPLAYABLE:
            return NonReplayableBody(
                f"{described} got {response.status if response else 401} and its body could be sent only once "
                f"(a stream, or a generator or file handed to requests), so it cannot be replayed; the session "
                f"was renewed: send a new request",
                request=request,
                response=response,
            )
        if code == "closed":
            return UsageError(f"{described} was not sent: its AuthClient was closed first", request=request)
        if code == "unsendable":  # a body this browser cannot send as it is (a stream, in Firefox)
            return UsageError(f"{described} was not sent: {message}", request=request)
        if code == "timeout":
            return RequestTimeout(
                f"{described} took longer than its timeout of {request.timeout} s",
                request=request,
                response=response,
            )
        return NetworkError(f"{described} failed: {message}", request=request, response=response)

    # -- what the engine reports ----------------------------------------------------------------

    def _reported(self, text):
        """A batch of reports from the engine: refresh-wanted answers, due renewals, replays.

        Read first for what it holds and trips (a batch that cannot even be read raises back
        into the engine, which settles it); whatever fails after that is ``faulted``, and if
        even that cannot settle it, the exception goes back to the engine, which does."""
        items = json.loads(str(text))
        held = []
        seen = 0
        for item in items:
            if item[0] == "answered":
                held.append(item[1])
                seen = max(seen, item[5])
            elif item[0] == "due":
                seen = max(seen, item[1])
        if not self._input(lambda now: self._decide(items, now), held, seen):
            raise RuntimeError("authfetch could not settle a report; the engine settles it")

    def _decide(self, items, now):
        commands = []
        for item in items:
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
        return commands

    # -- into the coordinator, and its commands out --------------------------------------------

    def _input(self, decide, held=(), seen=0, call=None, epoch=None):
        """``decide(now)``, a coordinator input with its values read inside, carried out. What
        raises on the way is ``faulted`` (``held``: the requests of a report that decision was
        owed to, ``seen``: its trips; ``call``, ``epoch``: the refresh call it was about).
        True once everything is settled as decided."""
        now = monotonic()
        try:
            commands = decide(now)
        except Exception as error:
            return self._fault(describe(error, "in a decision"), held, seen, epoch=epoch, call=call)
        try:
            self._carry_out(commands)
        except Exception as error:  # part way: the verdicts of ``held`` may not have gone out
            sent = getattr(error, "call", None)  # a StartRefresh that did not start: of this epoch
            return self._fault(describe(error, "carrying out a decision"), held, seen,
                               epoch=None if sent else epoch, call=sent or call)
        return True

    def _fault(self, error, held=(), seen=0, epoch=None, call=None):
        """The coordinator's ``faulted`` carried out (the engine ignores a verdict for a request
        that got its own). If even that fails, the last resort: the round is abandoned and a
        fixed batch fails what waits and sets the gate. False if nothing could be settled."""
        try:
            print("authfetch: " + error)
            calls = list(self._calls)
            self._carry_out(
                self.coordinator.faulted(monotonic(), error=error, held=held, seen=seen, epoch=epoch, call=call, calls_out=calls)
            )
            return True
        except Exception as again:
            print("authfetch: settling after that failed too: " + repr(again))
        try:
            message = "authfetch failed on the way: " + error
            batch = [["verdict", ident, "fail", REFRESH_FAILED, message] for ident in held]
            batch += [["failWaiting", REFRESH_FAILED, message], for_engine(self.coordinator.abandon(seen, self._calls, call))]
            self.wire.apply(batch)
            return True
        except Exception as last:
            print("authfetch: the last resort failed: " + repr(last))
            return False

    def _carry_out(self, commands):
        """The engine's commands in as few calls as may be; the rest one by one."""
        batch = []
        for command in commands:
            kind = command.kind
            engine_command = for_engine(command)
            if engine_command is not None:
                batch.append(engine_command)
                if kind == "schedule":
                    cancel(self._wake_timer)
                    self._wake_timer = None if command.delay is None else call_later(min(command.delay, MAX_TIMER), self._timer)
            else:
                if batch:
                    self.wire.apply(batch)
                    batch = []
                if kind == "take-lock":
                    spawn(self._locked(command.epoch))
                elif kind == "start-refresh":
                    holding, self._holding = self._holding, None  # the call keeps the lock till it is done
                    task = self._call(command.epoch, command.call, holding, command.refresh_token)
                    try:
                        spawn(task)
                        self._calls.append(command.call)
                    except Exception as error:
                        task.close()
                        if holding is not None:
                            _release(holding)  # the lock must not outlive a call that never started
                        raise NotSent(command.call, error) from None
                elif kind == "retry-refresh":
                    call_later(command.delay, lambda epoch=command.epoch: self._retry(epoch))
                elif kind == "wait-for-tabs":
                    call_later(command.delay, lambda epoch=command.epoch, wait=command.wait: self._tabs_silent(epoch, wait))
                elif kind == "keep":
                    self._keep(command.refresh_token)
                elif kind == "known":
                    if self.tabs is not None:
                        self.tabs.known = command.marker
                elif kind == "announce":
                    if self.tabs is not None:
                        self.tabs.announce(command.what, command.lifetime, command.token, command.refresh_token)
                elif kind == "emit":
                    self._emit(command.name, **command.fields)
        if batch:
            self.wire.apply(batch)

    def _retry(self, epoch):
        self._input(lambda now: self.coordinator.retry_refresh(now, epoch=epoch, waiting=self.wire.pending()))

    def _tabs_silent(self, epoch, wait):
        self._input(lambda now: self.coordinator.tabs_silent(now, epoch=epoch, wait=wait, waiting=self.wire.pending()))

    def _keep(self, refresh_token):
        """Where the page opted in (sessionStorage), the refresh token survives a reload."""
        if self.options.refresh_token_storage != SESSION_STORAGE:
            return
        problem = self.transport.session_set(self._stored, refresh_token)
        if problem:
            inputs.note("could not keep the refresh token in sessionStorage: " + problem)

    # -- the refresh ----------------------------------------------------------------------------

    async def _locked(self, epoch):
        """Take the cross-tab lock; tell the coordinator what the shared marker says then."""
        try:
            release = await self.tabs.lock()
        except Exception as error:  # not granted in time (or the lock failed): a transient failure
            return self._input(
                lambda now: self.coordinator.lock_failed(now, epoch=epoch, error=str(error), waiting=self.wire.pending())
            )
        self._holding = release
        try:
            self._input(lambda now: self._lock_acquired(now, epoch))
        finally:
            release, self._holding = self._holding, None
            if release is not None:  # no call took it over
                _release(release)

    def _lock_acquired(self, now, epoch):
        # A renewal's message is still to come where it carries the rotated refresh token: this
        # tab must adopt it then, so the marker is not taken as read yet.
        renewed, lifetime = self.tabs.renewal(record=not self.coordinator.carries_refresh)
        return self.coordinator.lock_acquired(now, epoch=epoch, renewed_elsewhere=renewed, lifetime=lifetime)

    async def _call(self, epoch, call, holding, refresh_token):
        """One refresh call, and its answer read into the coordinator; whatever the way raises
        ends the round (``faulted``), and the lock goes back in every case."""
        try:
            await self._refresh_call(epoch, call, refresh_token)
        except Exception as error:  # MemoryError, a bug: the round must end, not wait
            self._fault(describe(error, "in the refresh call"), epoch=epoch, call=call)
        finally:
            if call in self._calls:
                self._calls.remove(call)
            if holding is not None:
                _release(holding)
            # Whatever this task told or failed to tell: the call is off the wire now.
            self._input(lambda now: self.coordinator.call_ended(now, call))

    async def _refresh_call(self, epoch, call, refresh_token):
        """A credentialed POST outside the gate, so it never waits for itself; the refresh token
        in its body where the server takes it there, in the server's shape."""
        # Whether the page shows a session now (its CSRF cookie), before an answer clears it:
        # a refusal then ends a session, else it only says there is none (a first visit).
        seen = bool(self.options.csrf_cookie and self.transport.read_cookie(self.options.csrf_cookie))
        timeout = self.options.refresh_timeout
        server = self.options.server
        if server.in_body:
            content, content_type = server.refresh_body(refresh_token)
            request = Request("POST", self.options.refresh_url, Headers([("Content-Type", content_type)]), content,
                              timeout=timeout)
        else:
            request = Request("POST", self.options.refresh_url, timeout=timeout)
        started = monotonic()
        try:
            response = await self.perform(self.refresh_profile, request, CREDENTIALED)
            # The body in the time left, and no more of it than a refresh answer can need.
            left = max(0.0, timeout - (monotonic() - started))
            text = await self.wire.bounded(response.native, inputs.REFRESH_ANSWER_LIMIT, int(left * 1000))
        except RequestTimeout:
            return self._failed(epoch, call, seen, "timed out")
        except AuthFetchError as error:
            return self._failed(epoch, call, seen, str(error))
        headers = response.headers
        answer = inputs.refresh_answer(
            response.status,
            text,
            content_type=headers.get("content-type"),
            retry_after_text=headers.get("retry-after"),
            token_field=self.options.token_field,
            server=server,
        )
        for note in answer.ignored:
            inputs.note(note)
        self._input(
            lambda now: self.coordinator.refresh_answered(
                now, answer, epoch=epoch, call=call, waiting=self.wire.pending(), seen=seen
            ),
            call=call,
            epoch=epoch,
        )

    def _failed(self, epoch, call, seen, error):
        self._input(
            lambda now: self.coordinator.refresh_failed(
                now, error=error, epoch=epoch, call=call, waiting=self.wire.pending(), seen=seen
            ),
            call=call,
            epoch=epoch,
        )

    # -- sign in and out ------------------------------------------------------------------------

    def signed_in(self, token, lifetime, refresh_token=None):
        self._input(lambda now: self.coordinator.signed_in(now, token=token, lifetime=lifetime, refresh_token=refresh_token))

    def signed_out(self):
        self._input(lambda now: self.coordinator.end_session())

    # -- what other tabs tell us ----------------------------------------------------------------

    def _remote(self, what, token, lifetime, tab, fresh, refresh_token=None, marker=None):
        self._input(lambda now: self.coordinator.remote(
            now, what, token=token, lifetime=lifetime, tab=tab, fresh=fresh, refresh_token=refresh_token, marker=marker
        ))


class NotSent(Exception):
    """A StartRefresh whose call could not even start: the coordinator must not wait for it."""

    def __init__(self, call, error):
        super().__init__(f"the refresh call could not start: {error!r}")
        self.call = call


def _release(release):
    """Give the cross-tab lock back; a release that fails must not take the task down with it."""
    try:
        release()
    except Exception as error:
        print("authfetch: releasing the cross-tab lock failed: " + repr(error))
