"""PendingWire: the engine's stand-in while engine.js is still loading (pending.py).

Each test controls when the load finishes (it awaits an asyncio.Event the test sets), so it can
use the stand-in before the engine is there and check what the engine got once it is. The
"real" engine is a small recording double (RecordingEngine) with the wire's methods; the last
test runs a whole AuthClient over a FakeEngine that arrives late.
"""

import asyncio
import threading

import pytest

from authfetch import AuthClient, UsageError
from authfetch.fake_engine import FakeEngine
from authfetch.pending import PendingWire
from authfetch.testing import FakeTransport, reply


def run(coroutine):
    """Run ``coroutine`` on a new loop in a thread, as test_client_portable.py does (the sync
    Playwright fixtures may keep a loop running in the test thread); a hang fails the test.

    The loop's exception handler only collects what it is told (a task's exception nobody
    retrieved, when a broken stand-in fails requests early): the default one formats a traceback,
    which on CPython 3.11 parses source with ``ast`` from a garbage-collection finalizer and can
    crash pytest's own report of the failure (SystemError: AST constructor recursion depth).
    """
    outcome = {}

    def target():
        try:
            with asyncio.Runner() as runner:
                unhandled = outcome.setdefault("unhandled", [])
                runner.get_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
                outcome["value"] = runner.run(asyncio.wait_for(coroutine, timeout=10))
        except BaseException as error:  # handed back to the test thread
            outcome["error"] = error

    # A daemon, and a bounded join: a loop that never yields cannot be timed out from inside.
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=15)
    if thread.is_alive():
        pytest.fail("the test's event loop is stuck (it never yields)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def settle(rounds=20):
    """Let every task that can run, run (the load task, the submits waiting on it)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Loader:
    """The ``load`` coroutine function: it waits until the test calls ``finish``."""

    def __init__(self):
        self.calls = 0
        self._go = asyncio.Event()
        self._outcome = None

    def finish(self, outcome):
        """Make the load return ``outcome`` (an engine), or raise it (an exception)."""
        self._outcome = outcome
        self._go.set()

    async def __call__(self):
        self.calls += 1
        await self._go.wait()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


class RecordingEngine:
    """The real wire's methods, each recorded in ``calls`` in the order they came."""

    def __init__(self):
        self.calls = []
        self.profiles = []
        self.listener = None
        self.in_flight = 0
        self.tracing = None

    def listen(self, callback):
        self.calls.append(("listen",))
        self.listener = callback

    def profile(self, settings):
        self.calls.append(("profile", settings))
        self.profiles.append(settings)
        return len(self.profiles) - 1  # the engine numbers profiles from 0

    def apply(self, commands):
        self.calls.append(("apply", commands))

    async def submit(self, ident, profile, request, flags):
        self.calls.append(("submit", ident, profile, request, flags))
        self.in_flight += 1
        # The first submitted answers last: each answer must still reach its own caller.
        await asyncio.sleep(0.001 * max(0, 10 - ident))
        self.in_flight -= 1
        return f"answer to {request}"

    def cancel(self, ident):
        self.calls.append(("cancel", ident))

    def trace(self, on):
        self.calls.append(("trace", on))
        self.tracing = on

    def pending(self):
        return self.in_flight

    def stats(self):
        return {"replays": 7, "recalls": 8, "max_held": 9, "max_in_flight": 10}

    def kinds(self):
        return [call[0] for call in self.calls]


def test_requests_before_load_are_held_then_reach_the_engine_in_order_with_their_own_answers():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        tasks = [asyncio.create_task(wire.submit(ident, 0, f"GET /r{ident}", 4)) for ident in range(1, 6)]
        await settle()
        assert loader.calls == 1
        assert not any(task.done() for task in tasks), "a request failed or finished before the engine was there"

        loader.finish(engine)
        results = await asyncio.gather(*tasks)

        assert results == [f"answer to GET /r{ident}" for ident in range(1, 6)]
        assert engine.calls == [("submit", ident, 0, f"GET /r{ident}", 4) for ident in range(1, 6)]

    run(main())


def test_pending_counts_held_requests_before_load_and_a_cancelled_one_is_dropped():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        assert wire.pending() == 0
        tasks = [asyncio.create_task(wire.submit(ident, 0, f"GET /r{ident}", 0)) for ident in (1, 2, 3)]
        await settle()
        assert wire.pending() == 3

        # A caller giving up (asyncio.wait_for, task.cancel) while its request is held: the
        # session's perform() then calls cancel(ident); the request must neither be counted
        # nor ever reach the engine.
        tasks[1].cancel()
        await settle()
        wire.cancel(2)
        assert wire.pending() == 2

        loader.finish(engine)
        await asyncio.gather(tasks[0], tasks[2])
        assert [call[1] for call in engine.calls if call[0] == "submit"] == [1, 3]
        assert wire.pending() == 0

    run(main())


def test_profiles_commands_and_listener_before_load_are_handed_over_before_held_requests():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        reports = []
        listener = reports.append
        wire.listen(listener)
        first = wire.profile({"name": "refresh"})
        second = wire.profile({"name": "api"})
        wire.apply([["gate", "paused", 0, None, 0, None]])
        request = asyncio.create_task(wire.submit(1, second, "GET /held", 0))
        await settle()
        wire.apply([["due", 5000]])
        wire.apply([["gate", "open", 1, "token", 0, None]])
        assert (first, second) == (0, 1)

        loader.finish(engine)
        assert await request == "answer to GET /held"

        # The same numbers on the engine: what the stand-in answered names the same profile there.
        assert engine.profiles[first] == {"name": "refresh"}
        assert engine.profiles[second] == {"name": "api"}
        assert engine.listener is listener
        applied = [call[1] for call in engine.calls if call[0] == "apply"]
        assert applied == [
            [["gate", "paused", 0, None, 0, None]],
            [["due", 5000]],
            [["gate", "open", 1, "token", 0, None]],
        ]
        # Everything handed over before the held request went out (it is the last call).
        assert engine.kinds()[-1] == "submit"
        assert engine.kinds().count("submit") == 1
        assert sorted(engine.kinds()[:-1]) == ["apply", "apply", "apply", "listen", "profile", "profile"]
        assert engine.calls[-1] == ("submit", 1, second, "GET /held", 0)

    run(main())


def test_tracing_switched_on_before_load_is_on_in_the_engine_before_held_requests_go_out():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        wire.trace(True)
        held = asyncio.create_task(wire.submit(1, 0, "GET /traced", 0))
        await settle()
        loader.finish(engine)
        await held
        assert engine.tracing is True
        assert engine.kinds() == ["trace", "submit"]

        wire.trace(False)  # after load: straight to the engine
        assert engine.tracing is False

    run(main())


def test_when_ready_calls_swap_once_with_the_real_engine():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        swaps = []
        wire.when_ready(swaps.append)
        held = asyncio.create_task(wire.submit(1, 0, "GET /a", 0))
        await settle()
        assert swaps == []

        loader.finish(engine)
        await held
        await wire.submit(2, 0, "GET /b", 0)
        wire.apply([["due", None]])
        wire.profile({})
        await settle()
        assert len(swaps) == 1 and swaps[0] is engine

    run(main())


def test_after_load_the_stand_in_passes_straight_through():
    async def main():
        loader, engine = Loader(), RecordingEngine()
        wire = PendingWire(loader)
        assert wire.profile({"name": "refresh"}) == 0
        loader.finish(engine)
        await settle()
        engine.calls.clear()

        assert wire.profile({"name": "late"}) == 1  # numbering continues on the engine
        wire.apply([["recall", 3]])
        listener = [].append
        wire.listen(listener)
        wire.cancel(9)
        assert await wire.submit(4, 1, "GET /late", 2) == "answer to GET /late"
        assert engine.calls == [
            ("profile", {"name": "late"}),
            ("apply", [["recall", 3]]),
            ("listen",),
            ("cancel", 9),
            ("submit", 4, 1, "GET /late", 2),
        ]
        assert engine.listener is listener
        assert wire.stats() == engine.stats()
        engine.in_flight = 6
        assert wire.pending() == 6

    run(main())


def test_load_failing_with_usage_error_fails_every_held_request_and_later_ones():
    async def main():
        loader = Loader()
        wire = PendingWire(loader)
        swaps = []
        wire.when_ready(swaps.append)
        tasks = [asyncio.create_task(wire.submit(ident, 0, f"GET /r{ident}", 0)) for ident in (1, 2, 3)]
        await settle()
        assert wire.pending() == 3

        error = UsageError("authfetch's engine.js is not loaded on this page")
        loader.finish(error)
        # All of them fail at once (a hang would time out here).
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=2)
        assert all(result is error for result in results), results

        with pytest.raises(UsageError) as later:
            await asyncio.wait_for(wire.submit(4, 0, "GET /later", 0), timeout=2)
        assert later.value is error
        assert wire.pending() == 0
        assert swaps == []

    run(main())


def test_load_failing_with_any_other_error_does_not_leave_requests_hanging():
    async def main():
        loader = Loader()
        wire = PendingWire(loader)
        held = asyncio.create_task(wire.submit(1, 0, "GET /held", 0))
        await settle()
        loader.finish(RuntimeError("import() of the engine was refused"))
        await settle()
        try:
            await asyncio.wait_for(held, timeout=0.5)
        except asyncio.TimeoutError:
            raise AssertionError("the held request still waits after the load failed") from None
        except UsageError as error:
            assert "engine.js" in str(error) and "refused" in str(error), error
        else:
            raise AssertionError("the held request succeeded without an engine")

    run(main())


def test_a_client_created_while_the_engine_loads_sends_its_requests_once_it_is_in():
    async def main():
        loader = Loader()
        made = {}

        def wire_factory(transport, **settings):
            made["settings"] = settings
            made["pending"] = PendingWire(loader)
            return made["pending"]

        transport = FakeTransport(lambda sent: reply(200, json={"path": sent.url}), wire_factory=wire_factory)
        api = AuthClient("/api", refresh_url="/api/refresh", transport=transport, cross_tab=False)
        try:
            assert api._session.wire is made["pending"]
            calls = [asyncio.create_task(api.get(f"/item/{n}")) for n in range(4)]
            await settle()
            assert transport.sent == []
            assert not any(call.done() for call in calls)

            engine = FakeEngine(transport, **made["settings"])
            loader.finish(engine)
            responses = await asyncio.gather(*calls)

            assert api._session.wire is engine  # the session talks to the engine directly now
            assert [response.status for response in responses] == [200] * 4
            bodies = [await response.json() for response in responses]
            assert bodies == [{"path": f"https://app.test/api/item/{n}"} for n in range(4)]
            assert [sent.url for sent in transport.sent] == [f"https://app.test/api/item/{n}" for n in range(4)]
            assert engine.listener is not None  # reports reach the session
            assert len(engine.profiles) == 2  # the session's refresh profile and the client's
        finally:
            api.close()

    run(main())
