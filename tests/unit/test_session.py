"""The session on CPython over the pass-through wire: what comes in reaches the coordinator as
checked values, its commands go out, and an exception at any step settles what waits.

The engine is played by hand here: a test reports what engine.js would hold (``wire.report``)
and reads what the session commanded (``wire.applied``). The refresh call itself goes through
the wire to the handler, as every call does. The engine's own mechanics are engine.js's
(tests/engine, and the portable suite under MicroPython and Pyodide).

The fault-injection tests raise at each step of the refresh path and of the report path in
turn (once, on the first call there) and check that nothing is left waiting: every held
request got its verdict, the last gate is open or ended, no refresh round runs, no task is
left, and the session still works afterwards.
"""

import asyncio
import json
import threading

import pytest

from authfetch import AuthClient, inputs
from authfetch import session as session_module
from authfetch.compat import monotonic
from authfetch.testing import FakeBrowser, FakeTransport, NetworkFailure, reply

PAGE = "https://app.test/"
REFRESH = "https://app.test/api/refresh"
GOOD = {"data": {"accessToken": "tok-2", "expiresIn": 60}}


def run(coroutine):
    """asyncio.run in a thread: the session's sync Playwright keeps a loop running in this one."""
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(asyncio.wait_for(coroutine, timeout=10))
        except BaseException as error:  # handed back to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class Server:
    """Answers the refresh call from a script ("ok" when it runs out), counts the calls."""

    def __init__(self, *script):
        self.script = list(script)
        self.refresh_calls = 0

    def __call__(self, sent):
        if sent.url == REFRESH:
            self.refresh_calls += 1
            step = self.script.pop(0) if self.script else "ok"
            if step == "ok":
                return reply(200, json=GOOD)
            if step == "drop":
                raise NetworkFailure("connection reset")
            return step  # a Reply as it stands
        return reply(200, json={"ok": True})


def make(server, *, tabs=False, **options):
    transport = FakeTransport(server, page_url=PAGE, browser=FakeBrowser() if tabs else None)
    options.setdefault("cross_tab", tabs)
    api = AuthClient("/api", refresh_url="/api/refresh", transport=transport, **options)
    return api, api._session, api._session.wire


def busy():
    """The tasks still running, but the test's own and the renewal timers (they sleep till expiry)."""
    timers = [session._wake_timer for session in session_module._sessions.values()]
    mine = (asyncio.current_task(),)
    return [
        task for task in asyncio.all_tasks()
        if task not in mine and task not in timers and task.get_coro().__qualname__ != "wait_for"
    ]


async def quiet(seconds=2.0):
    """Until every task is done (or the time runs out): True if it got quiet."""
    deadline = monotonic() + seconds
    while monotonic() < deadline:
        if not busy():
            return True
        await asyncio.sleep(0.001)
    return False


def burst(wire, idents=(1, 2, 3)):
    """The engine reports three 401s of generation 0 (the first tripped the gate)."""
    wire.report(*[["answered", ident, 0, False, True, 1] for ident in idents])


def verdicts(wire):
    out = {}
    for command in wire.applied:
        if command[0] == "verdict":
            out.setdefault(command[1], []).append(command[2:])
    return out


def gates(wire):
    return [command for command in wire.applied if command[0] == "gate"]


def nothing_waits(session, wire, idents=(1, 2, 3)):
    """Every held request got one verdict, the last gate is not paused, no round runs."""
    told = verdicts(wire)
    assert sorted(told) == sorted(idents) and all(len(v) == 1 for v in told.values()), told
    assert gates(wire)[-1][1] in ("open", "ended"), gates(wire)[-1]
    assert not session.coordinator.refreshing


def events(api):
    seen = []
    api.on("*", lambda event: seen.append((event.name, event.fields.get("error"))))
    return seen


# -- the plain path, and what the refresh endpoint may answer ---------------------------------------


def test_a_401_report_refreshes_once_through_the_wire_and_replays_what_it_held():
    async def scenario():
        server = Server()
        api, session, wire = make(server)
        seen = events(api)
        burst(wire)
        assert await quiet()
        return server, session, wire, seen

    server, session, wire, seen = run(scenario())
    assert server.refresh_calls == 1
    assert verdicts(wire) == {1: [["replay", None, None]], 2: [["replay", None, None]], 3: [["replay", None, None]]}
    assert gates(wire)[-1][:3] == ["gate", "open", 1]
    assert ("refresh", None) in seen
    nothing_waits(session, wire)


BAD_ANSWERS = [
    (reply(200, text="<!doctype html><title>app</title>", headers={"Content-Type": "text/html"}), "an HTML page, not JSON"),
    (reply(200, text="not json"), "text, not JSON"),
    (reply(200, text="[1]"), "JSON but not an object"),
    (reply(200, text="x" * (inputs.REFRESH_ANSWER_LIMIT + 1)), "over 64 KiB"),
]


@pytest.mark.parametrize("answer, named", BAD_ANSWERS, ids=["html", "text", "array", "large"])
def test_a_2xx_that_is_no_refresh_answer_fails_the_round_naming_why(answer, named):
    async def scenario():
        server = Server(answer, answer)  # the call and its retry
        api, session, wire = make(server, refresh_retries=1)
        seen = events(api)
        burst(wire)
        session.wire.waiting = 3  # the engine would hold them: worth retrying
        assert await quiet(5)
        return server, session, wire, seen

    server, session, wire, seen = run(scenario())
    assert server.refresh_calls == 2
    failed = [command for command in wire.applied if command[0] == "failWaiting"]
    assert failed and failed[-1][1] == "refresh-failed" and named in failed[-1][2], failed
    assert [name for name, _ in seen if name.startswith("refresh")] == ["refresh-start", "refresh-failed"]
    assert gates(wire)[-1][:3] == ["gate", "open", 0]
    nothing_waits(session, wire)


@pytest.mark.parametrize("token, named", [("bad\ntoken", "'\\n' at 3"), ("t\u20ac", "'€' at 1"), ("", "empty")])
def test_a_bearer_token_no_header_can_carry_is_not_taken(token, named):
    async def scenario():
        server = Server(reply(200, json={"data": {"accessToken": token}}))
        api, session, wire = make(server, mode="bearer", refresh_retries=0)
        burst(wire)
        session.wire.waiting = 3
        assert await quiet(5)
        return session, wire

    session, wire = run(scenario())
    failed = [command for command in wire.applied if command[0] == "failWaiting"][-1]
    assert "header" in failed[2] or "no access token" in failed[2], failed
    assert named in failed[2] or not token, failed
    assert all(gate[3] is None for gate in gates(wire)), "the token never reaches the engine"
    nothing_waits(session, wire)


@pytest.mark.parametrize("lifetime", ["1e400", "1e300", "-5", '"60"', "NaN"])
def test_a_lifetime_that_is_no_lifetime_is_ignored_and_nothing_overflows(lifetime):
    async def scenario():
        text = '{"data": {"accessToken": "tok-2", "expiresIn": %s}}' % lifetime
        server = Server(reply(200, text=text))
        api, session, wire = make(server)
        burst(wire)
        assert await quiet()
        return session, wire

    session, wire = run(scenario())
    assert session.coordinator.refresh_at is None, "no renewal planned from a lifetime that is none"
    assert [command for command in wire.applied if command[0] == "due"][-1] == ["due", None]
    nothing_waits(session, wire)


def test_a_dropped_refresh_is_retried_then_succeeds():
    async def scenario():
        server = Server("drop")
        api, session, wire = make(server)
        burst(wire)
        session.wire.waiting = 3
        assert await quiet(5)
        return server, session, wire

    server, session, wire = run(scenario())
    assert server.refresh_calls == 2 and gates(wire)[-1][:3] == ["gate", "open", 1]
    nothing_waits(session, wire)


# -- what other tabs send -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "refreshed", "marker": {"n": 1, "lifetime": "x"}}',
        '{"type": "refreshed", "marker": {"n": 1, "lifetime": 1e400}}',
        '{"type": "signed-in", "marker": {"n": 1}, "token": 5}',
        '{"type": "session-expired", "marker": "x"}',
        '{"type": ["refreshed"]}',
        "[1, 2]",
        "not json",
    ],
)
def test_a_cross_tab_message_of_the_wrong_shape_changes_nothing(message):
    async def scenario():
        api, session, wire = make(Server(), tabs=True)
        before = list(wire.applied)
        session.tabs._received(message)
        await quiet()
        return session, wire, before

    session, wire, before = run(scenario())
    assert wire.applied == before
    assert session.coordinator.generation == 0 and session.coordinator.session == "live"


@pytest.mark.parametrize("marker", ['{"n": 9, "lifetime": "x"}', '{"n": "9"}', "[1]", "{", '{"n": 9, "lifetime": 1e400}'])
def test_a_malformed_marker_under_the_lock_is_no_renewal_elsewhere(marker):
    async def scenario():
        server = Server()
        api, session, wire = make(server, tabs=True)
        session.tabs.transport.shared_set(session.tabs.name, marker)  # another tab's, of another shape
        burst(wire)
        assert await quiet()
        return server, session, wire

    server, session, wire = run(scenario())
    assert server.refresh_calls == 1, "this tab refreshed itself instead of adopting a broken marker"
    assert json.loads(session.tabs.transport.shared_get(session.tabs.name))["n"] == 1
    nothing_waits(session, wire)


# -- an exception at each step: nothing waits -------------------------------------------------------


def broken_once(target, name, where, at=1):
    """``target.name`` raises on its ``at``-th call, and works before and after."""
    original = getattr(target, name)
    calls = []
    count = [0]

    def broken(*args, **kwargs):
        count[0] += 1
        if count[0] == at:
            calls.append(where)
            raise RuntimeError("injected at " + where)
        return original(*args, **kwargs)

    setattr(target, name, broken)
    return calls


class Step:
    """Where to raise: ``reach(session, wire)`` has ``name``; its ``at``-th call raises. ``tabs``:
    the run needs the cross-tab lock; ``script``: the refresh endpoint's answers first."""

    def __init__(self, where, reach, name, *, tabs=False, at=1, script=()):
        self.where, self.reach, self.name, self.tabs, self.at, self.script = where, reach, name, tabs, at, script


STEPS = [
    # the refresh path
    Step("taking the cross-tab lock", lambda s, w: s.tabs, "lock", tabs=True),
    Step("starting the call under the lock", lambda s, w: session_module, "spawn", tabs=True, at=2),
    Step("reading the marker under the lock", lambda s, w: s.tabs, "renewal", tabs=True),
    Step("the coordinator's lock_acquired", lambda s, w: s.coordinator, "lock_acquired", tabs=True),
    Step("sending the refresh call", lambda s, w: w, "submit"),
    Step("reading the refresh answer's body", lambda s, w: w, "bounded"),
    Step("reading the refresh answer's headers", lambda s, w: w, "headers"),
    Step("reading the answer at the edge", lambda s, w: session_module.inputs, "refresh_answer"),
    Step("counting what waits, for the decision", lambda s, w: w, "pending"),
    Step("the coordinator's refresh_answered", lambda s, w: s.coordinator, "refresh_answered"),
    Step("the coordinator's refresh_failed", lambda s, w: s.coordinator, "refresh_failed", script=("drop",)),
    Step("arming the retry timer", lambda s, w: session_module, "call_later", script=("drop",)),
    Step("the coordinator's retry_refresh", lambda s, w: s.coordinator, "retry_refresh", script=("drop",)),
    Step("telling the other tabs", lambda s, w: s.tabs, "announce", tabs=True),
    Step("carrying out the commands", lambda s, w: w, "apply"),
    Step("starting the refresh task", lambda s, w: session_module, "spawn"),
    Step("emitting an event", lambda s, w: s, "_emit"),
    # the report path
    Step("the coordinator's answered", lambda s, w: s.coordinator, "answered"),
    Step("the coordinator's answered, after the round began", lambda s, w: s.coordinator, "answered", at=2),
    Step("deciding on the batch", lambda s, w: s, "_decide"),
]


@pytest.mark.parametrize("step", STEPS, ids=[step.where for step in STEPS])
def test_an_exception_at_each_step_leaves_nothing_waiting(step):
    async def scenario():
        server = Server(*step.script)
        api, session, wire = make(server, tabs=step.tabs)
        wire.waiting = 3  # the engine would hold them: a failed call is worth retrying
        seen = events(api)
        calls = broken_once(step.reach(session, wire), step.name, step.where, step.at)
        burst(wire)
        assert await quiet(5), f"tasks still running after a fault {step.where}: {busy()}"
        first = list(wire.applied)
        # And the session works on: the next 401 of the credential refreshes and replays it.
        wire.report(["answered", 7, session.coordinator.generation, False, True, 2])
        assert await quiet(5), f"tasks still running after the next 401: {busy()}"
        return session, wire, seen, calls, first

    session, wire, seen, calls, first = run(scenario())
    assert calls == [step.where], "the fault was not reached: the test would prove nothing"
    later = wire.applied[len(first):]
    wire.applied = first
    nothing_waits(session, wire)
    faulted = [error for name, error in seen if name == "refresh-failed"]
    assert not faulted or "injected at " + step.where in faulted[0], seen
    wire.applied = later
    assert list(verdicts(wire)) == [7] and gates(wire)[-1][1] == "open", later
    assert not session.coordinator.refreshing and session.coordinator.call_out is None
    if step.tabs:
        assert not any(session.tabs.transport.browser.locks.values()), "the cross-tab lock was left taken"


def test_when_even_faulted_fails_the_last_resort_settles_and_the_next_401_works():
    async def scenario():
        api, session, wire = make(Server())
        broken_once(session.coordinator, "answered", "answered", at=2)  # after the first began a round
        calls = broken_once(session.coordinator, "faulted", "faulted")
        burst(wire)
        assert await quiet()
        first = list(wire.applied)
        wire.report(["answered", 7, session.coordinator.generation, False, True, 2])
        assert await quiet()
        return session, wire, calls, first

    session, wire, calls, first = run(scenario())
    assert calls == ["faulted"]
    later = wire.applied[len(first):]
    wire.applied = first
    told = verdicts(wire)
    assert [told[ident][-1][:2] for ident in (1, 2, 3)] == [["fail", "refresh-failed"]] * 3, told
    assert gates(wire)[-1][1] == "open"
    wire.applied = later
    assert list(verdicts(wire)) == [7] and gates(wire)[-1][1] == "open" and not session.coordinator.refreshing


def test_when_nothing_can_settle_a_report_the_exception_goes_back_to_the_engine():
    async def scenario():
        api, session, wire = make(Server())
        broken_once(session.coordinator, "answered", "answered")
        broken_once(session.coordinator, "faulted", "faulted")
        broken_once(wire, "apply", "the last resort's apply")
        with pytest.raises(RuntimeError, match="the engine settles it"):
            burst(wire)  # engine.js's orphaned() then fails the batch and lifts its pause (tests/engine)

    run(scenario())


class Hold:
    """A refresh endpoint whose first call answers only when told (a round stays running
    meanwhile); it counts its calls."""

    def __init__(self):
        self.go = asyncio.Event()
        self.refresh_calls = 0

    async def __call__(self, sent):
        if sent.url == REFRESH:
            self.refresh_calls += 1
            if self.refresh_calls == 1:
                await self.go.wait()
            return reply(200, json=GOOD)
        return reply(200, json={"ok": True})


async def until(condition, seconds=2.0):
    deadline = monotonic() + seconds
    while not condition():
        assert monotonic() < deadline, "waited in vain"
        await asyncio.sleep(0.001)


@pytest.mark.parametrize("where, name", [("wake", "wake"), ("timer", "timer"), ("another tab's message", "remote")])
def test_an_exception_in_any_other_input_ends_the_round_running(where, name):
    async def scenario():
        server = Hold()
        api, session, wire = make(server, tabs=True)
        burst(wire)
        await until(lambda: session.coordinator.call_out)  # the round runs, its call is out
        calls = broken_once(session.coordinator, name, where)
        if name == "remote":
            session.tabs._received('{"type": "refreshed", "marker": {"n": 5}}')
            await asyncio.sleep(0.01)
        else:
            getattr(session, "_timer" if name == "timer" else "wake")()
        ended = (session.coordinator.refreshing, list(wire.applied))
        server.go.set()  # the stale call lands: ignored, but no longer out
        assert await quiet()
        return session, wire, calls, ended

    session, wire, calls, (refreshing, applied) = run(scenario())
    assert calls == [where] and not refreshing
    assert ["failWaiting", "refresh-failed", f"authfetch failed on the way: RuntimeError: injected at {where} (in a decision)"] in applied
    assert applied[-1][:2] == ["gate", "open"]
    assert session.coordinator.generation == 0 and session.coordinator.call_out is None, "its late answer was stale"


@pytest.mark.parametrize("faulted_too", [False, True], ids=["its decision raises", "and faulted raises too"])
def test_a_stale_calls_fault_lets_the_round_that_waited_for_it_call(faulted_too):
    # A 401 sends call 1; a sign-in starts a new epoch; a new 401's round waits for call 1 (two
    # calls out would present one refresh token twice); call 1 lands and its decision raises.
    async def scenario():
        server = Hold()
        api, session, wire = make(server)
        burst(wire, idents=(1,))
        await until(lambda: server.refresh_calls == 1)
        session.signed_in(None, None)
        wire.report(["answered", 2, session.coordinator.generation, False, True, 2])
        assert session.coordinator.call_waits, "the round must wait for the call still out"
        broken_once(session.coordinator, "refresh_answered", "refresh_answered")
        if faulted_too:
            broken_once(session.coordinator, "faulted", "faulted")
        server.go.set()
        assert await quiet()
        first = (server.refresh_calls, session.coordinator.refreshing, session.coordinator.call_out)
        wire.report(["answered", 3, session.coordinator.generation, False, True, 3])  # and the next 401
        assert await quiet()
        return server, session, wire, first

    server, session, wire, (calls, refreshing, call_out) = run(scenario())
    if faulted_too:  # the last resort dropped the round that waited; the next 401 calls at once
        assert calls == 1 and not refreshing and call_out is None
        assert server.refresh_calls == 2
    else:  # the round that waited called once the stale one was off the wire
        assert calls == 2 and not refreshing and call_out is None
        assert server.refresh_calls == 3
    assert not session.coordinator.refreshing and session.coordinator.call_out is None
    assert gates(wire)[-1][1] == "open"


def test_closing_twice_retires_once_and_a_client_of_another_mode_does_not_revive_a_closing_session():
    async def scenario():
        server = Hold()
        api, session, wire = make(server)
        burst(wire, idents=(1,))
        await until(lambda: server.refresh_calls == 1)
        api.close()
        api.close()
        with pytest.raises(session_module.UsageError):
            AuthClient("/api", refresh_url="/api/refresh", transport=api.transport, mode="bearer")
        assert session.coordinator.closed and session._on_wake not in api.transport._wake_callbacks
        server.go.set()
        await until(lambda: session not in session_module._sessions.values(), 3)
        return session, wire

    session, wire = run(scenario())
    assert wire.listener is None
