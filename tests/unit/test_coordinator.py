"""The coordinator driven by hand, h11-style: feed one input, assert the exact commands and state.

Each test plays the driver (session.py): it starts tickets, answers them, and reports what the
refresh did, each with an explicit ``now``. Commands are compared as plain tuples so that a
failure shows the whole answer at once:

    ("send", ident, generation, replay)   ("deliver", ident)   ("fail", ident, reason)
    ("start-refresh", attempt, reason, epoch)   ("retry-refresh", attempt, delay)   ("schedule", delay)
    ("emit", name, fields)   ("recall", ident)
"""

import ast
import pathlib

import pytest

from authfetch import coordinator as coordinator_module
from authfetch.coordinator import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    ENDED,
    LIVE,
    MAX_RETRY_AFTER,
    NON_REPLAYABLE,
    REFRESH_FAILED,
    SESSION_EXPIRED,
    SIGNED_OUT,
    Coordinator,
    Ticket,
)

HALF = lambda: 0.5  # noqa: E731  jitter factor 0.5 + 0.5 == 1.0: delays are exactly BACKOFF_BASE * 2**n


def make(**options):
    options.setdefault("random", HALF)
    return Coordinator(**options)


def tickets(count, first=1):
    return [Ticket(ident) for ident in range(first, first + count)]


def described(commands):
    out = []
    for command in commands:
        kind = command.kind
        if kind == "send":
            out.append(("send", command.ticket.ident, command.generation, command.replay))
        elif kind == "deliver":
            out.append(("deliver", command.ticket.ident))
        elif kind == "recall":
            out.append(("recall", command.ticket.ident))
        elif kind == "fail":
            out.append(("fail", command.ticket.ident, command.reason))
        elif kind == "start-refresh":
            out.append(("start-refresh", command.attempt, command.reason, command.epoch))
        elif kind == "schedule":
            out.append(("schedule", command.delay))
        elif kind == "retry-refresh":
            out.append(("retry-refresh", command.attempt, command.delay))
        elif kind == "emit":
            out.append(("emit", command.name, dict(command.fields)))
        else:
            raise AssertionError(f"unknown command kind {kind!r}")
    return out


def state(coordinator):
    return {
        "generation": coordinator.generation,
        "session": coordinator.session,
        "refreshing": coordinator.refreshing,
        "in_flight": coordinator.in_flight,
        "waiting": [ticket.ident for ticket in coordinator.waiting],
        "stats": coordinator.stats.as_dict(),
    }


def expect(coordinator, **changes):
    """Assert the coordinator's state; ``stats`` may be given partly, as a dict of counters."""
    actual = state(coordinator)
    for key, value in changes.items():
        if key == "stats":
            for counter, number in value.items():
                assert actual["stats"][counter] == number, f"stats.{counter}: {actual['stats']}"
        else:
            assert actual[key] == value, f"{key}: expected {value!r}, state is {actual}"


def snapshot(coordinator, *ticket_list):
    return (
        state(coordinator),
        coordinator.attempt,
        coordinator.refresh_at,
        coordinator.epoch,
        [(t.ident, t.state, t.generation, t.replayed) for t in ticket_list],
    )


def send_all(coordinator, ticket_list, now=0.0):
    """Start tickets that are expected to go straight out; return nothing, assert the Sends."""
    for ticket in ticket_list:
        assert described(coordinator.start(ticket, now)) == [
            ("send", ticket.ident, coordinator.generation, False)
        ]


def start_refresh_with_401(coordinator, ticket, now=1.0):
    """Answer an in-flight ticket of the current generation with 401: the refresh starts."""
    assert described(coordinator.response(ticket, 401, now, refresh_wanted=True)) == [
        ("start-refresh", 1, "401", coordinator.epoch),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
    ]


# -- no I/O -------------------------------------------------------------------------------------


IO_MODULES = ("js", "pyscript", "pyodide", "asyncio")


def io_imports(path, seen=None):
    """Every import in ``path`` of an I/O module, following imports from its own package.

    ``from .compat import x`` counts as whatever compat.py imports (compat imports asyncio).
    """
    seen = set() if seen is None else seen
    path = pathlib.Path(path).resolve()
    if path in seen:
        return []
    seen.add(path)
    offending = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom):
            package = path.parent
            for _ in range(node.level - 1):
                package = package.parent
            targets = [node.module] if node.module else [alias.name for alias in node.names]
            for target in targets:
                module = package.joinpath(*target.split(".")).with_suffix(".py")
                if not module.exists():
                    module = package.joinpath(*target.split("."), "__init__.py")
                if module.exists():
                    offending += [f"{path.name} -> {item}" for item in io_imports(module, seen)]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names = ["__import__(...)"]
        for name in names:
            if name.split(".")[0] in IO_MODULES or name == "__import__(...)":
                offending.append(f"{path.name}: {name}")
    return offending


def test_coordinator_imports_nothing_that_does_io():
    assert io_imports(coordinator_module.__file__) == []


def test_the_import_check_can_fail(tmp_path):
    # A test that cannot fail is a defect: the same check over modules that do import I/O.
    (tmp_path / "direct.py").write_text("import os\nfrom asyncio import sleep\n")
    assert io_imports(tmp_path / "direct.py") == ["direct.py: asyncio"]
    (tmp_path / "compat.py").write_text("try:\n    import js\nexcept ImportError:\n    js = None\n")
    (tmp_path / "core.py").write_text("from .compat import js\n")
    assert io_imports(tmp_path / "core.py") == ["core.py -> compat.py: js"]
    (tmp_path / "lazy.py").write_text("def f():\n    import pyodide.http\n")
    assert io_imports(tmp_path / "lazy.py") == ["lazy.py: pyodide.http"]


# -- plain requests -------------------------------------------------------------------------------


def test_initial_state():
    c = make()
    expect(
        c,
        generation=0,
        session=LIVE,
        refreshing=False,
        in_flight=0,
        waiting=[],
        stats={"refreshes": 0, "refresh_successes": 0, "replays": 0, "max_held": 0},
    )


def test_start_sends_with_the_current_generation_and_a_200_is_delivered():
    c = make()
    t1, t2 = tickets(2)
    assert described(c.start(t1, 0.0)) == [("send", 1, 0, False)]
    expect(c, in_flight=1, waiting=[])
    assert (t1.state, t1.generation, t1.replayed) == ("in-flight", 0, False)
    assert described(c.start(t2, 0.0)) == [("send", 2, 0, False)]
    expect(c, in_flight=2)
    assert described(c.response(t1, 200, 0.5, refresh_wanted=False)) == [("deliver", 1)]
    expect(c, in_flight=1, refreshing=False, generation=0)
    assert t1.state == "done"
    # A 403 (or any status the client does not refresh on) is delivered as it is.
    assert described(c.response(t2, 403, 0.6, refresh_wanted=False)) == [("deliver", 2)]
    expect(c, in_flight=0, waiting=[], stats={"refreshes": 0, "replays": 0})


def test_a_ticket_sent_at_once_was_never_held():
    # Stats.max_held is "the most requests held at once" (issue 3); a ticket that goes straight
    # out was not held.
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    expect(c, in_flight=2, waiting=[], stats={"max_held": 0})


# -- one refresh for many 401s ------------------------------------------------------------------


def test_many_401s_of_the_current_generation_cause_one_refresh():
    c = make()
    ts = tickets(5)
    send_all(c, ts)
    expect(c, in_flight=5)

    start_refresh_with_401(c, ts[0])
    expect(c, refreshing=True, in_flight=4, waiting=[1], stats={"refreshes": 1})
    for ticket in ts[1:]:
        assert described(c.response(ticket, 401, 1.0, refresh_wanted=True)) == []
    # Each 401 goes to the front: the replays go out before anything started later.
    expect(c, refreshing=True, in_flight=0, waiting=[5, 4, 3, 2, 1], stats={"refreshes": 1, "max_held": 5})
    assert all(ticket.replayed and ticket.state == "waiting" for ticket in ts)

    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 5, 1, True),
        ("send", 4, 1, True),
        ("send", 3, 1, True),
        ("send", 2, 1, True),
        ("send", 1, 1, True),
    ]
    expect(
        c,
        generation=1,
        refreshing=False,
        in_flight=5,
        waiting=[],
        stats={"refreshes": 1, "refresh_successes": 1, "replays": 5, "max_held": 5},
    )
    for ticket in ts:
        assert described(c.response(ticket, 200, 3.0, refresh_wanted=False)) == [("deliver", ticket.ident)]
    expect(c, in_flight=0, waiting=[], stats={"refreshes": 1})


def test_a_ticket_started_during_a_refresh_is_held_not_sent():
    c = make()
    t1, t2, t3 = tickets(3)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)

    assert described(c.start(t2, 1.5)) == []
    expect(c, refreshing=True, in_flight=0, waiting=[1, 2])
    assert (t2.state, t2.generation) == ("waiting", None)
    assert described(c.start(t3, 1.6)) == []
    expect(c, waiting=[1, 2, 3], stats={"max_held": 3})

    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
        ("send", 2, 1, False),
        ("send", 3, 1, False),
    ]
    expect(c, generation=1, refreshing=False, in_flight=3, waiting=[], stats={"replays": 1})
    assert (t2.generation, t2.replayed) == (1, False)


def test_a_401_from_an_older_generation_is_replayed_at_once_without_a_refresh():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    start_refresh_with_401(c, t1)
    c.refresh_succeeded(2.0)  # t1's replay goes out; t2 is still out with generation 0
    expect(c, generation=1, in_flight=2, stats={"refreshes": 1})

    # t2 was sent with generation 0: its 401 is the late one after a finished refresh.
    assert described(c.response(t2, 401, 2.5, refresh_wanted=True)) == [("send", 2, 1, True)]
    expect(c, generation=1, refreshing=False, in_flight=2, waiting=[], stats={"refreshes": 1, "replays": 2})
    assert (t2.generation, t2.replayed, t2.state) == (1, True, "in-flight")
    assert described(c.response(t2, 200, 3.0, refresh_wanted=False)) == [("deliver", 2)]


def test_a_401_from_an_older_generation_during_the_next_refresh_waits_for_it():
    c = make()
    t1, t2, t3 = tickets(3)
    send_all(c, [t1, t2])
    start_refresh_with_401(c, t1)
    c.refresh_succeeded(2.0)  # generation 1; t1 replayed
    send_all(c, [t3], now=2.1)
    assert described(c.response(t3, 401, 2.2, refresh_wanted=True)) == [
        ("start-refresh", 1, "401", 0),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
    ]
    # The generation-0 401 of t2 arrives while the second refresh runs: held, no third refresh.
    assert described(c.response(t2, 401, 2.3, refresh_wanted=True)) == []
    expect(c, generation=1, refreshing=True, waiting=[2, 3], stats={"refreshes": 2})
    assert described(c.refresh_succeeded(2.5)) == [
        ("emit", "refresh", {"generation": 2, "source": "local"}),
        ("send", 2, 2, True),
        ("send", 3, 2, True),
    ]


def test_a_replayed_tickets_401_is_delivered_with_no_second_replay():
    c = make()
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
    ]
    assert described(c.response(t1, 401, 3.0, refresh_wanted=True)) == [("deliver", 1)]
    expect(
        c,
        generation=1,
        refreshing=False,
        in_flight=0,
        waiting=[],
        stats={"refreshes": 1, "refresh_successes": 1, "replays": 1},
    )
    assert t1.state == "done"


def test_a_non_replayable_tickets_401_fails_but_still_starts_the_refresh():
    c = make()
    stream = Ticket(1, replayable=False)
    other = Ticket(2)
    send_all(c, [stream, other])
    assert described(c.response(stream, 401, 1.0, refresh_wanted=True)) == [
        ("start-refresh", 1, "401", 0),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
        ("fail", 1, NON_REPLAYABLE),
    ]
    expect(c, refreshing=True, in_flight=1, waiting=[], stats={"refreshes": 1})
    assert (stream.state, stream.replayed) == ("done", False)
    assert described(c.response(other, 401, 1.1, refresh_wanted=True)) == []
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 2, 1, True),
    ]


def test_a_non_replayable_tickets_401_of_an_older_generation_fails_with_no_refresh():
    c = make()
    t1 = Ticket(1)
    stream = Ticket(2, replayable=False)
    send_all(c, [t1, stream])
    start_refresh_with_401(c, t1)
    c.refresh_succeeded(2.0)
    assert described(c.response(stream, 401, 2.5, refresh_wanted=True)) == [("fail", 2, NON_REPLAYABLE)]
    expect(c, refreshing=False, in_flight=1, waiting=[], stats={"refreshes": 1})


# -- the session ends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, definitive",
    [(400, False), (401, False), (403, False), (503, True), (None, True)],
)
def test_a_definitive_refresh_failure_ends_the_session_once(status, definitive):
    c = make()
    t1, t2, t3, t4 = tickets(4)
    send_all(c, [t1, t2, t3])
    start_refresh_with_401(c, t1)
    assert described(c.response(t2, 401, 1.1, refresh_wanted=True)) == []
    assert described(c.start(t4, 1.2)) == []  # held
    expect(c, refreshing=True, in_flight=1, waiting=[2, 1, 4])

    assert described(c.refresh_failed(2.0, status=status, definitive=definitive, error="reused")) == [
        ("fail", 2, SESSION_EXPIRED),
        ("fail", 1, SESSION_EXPIRED),
        ("fail", 4, SESSION_EXPIRED),
        ("emit", "session-expired", {"status": status, "error": "reused"}),
    ]
    expect(c, session=ENDED, generation=0, refreshing=False, in_flight=1, waiting=[], stats={"refreshes": 1})
    assert c.refresh_at is None

    # Later tickets fail at once, unsent; no refresh, no second event.
    late = tickets(3, first=10)
    for ticket in late:
        assert described(c.start(ticket, 3.0)) == [("fail", ticket.ident, SESSION_EXPIRED)]
        assert ticket.state == "done"
    expect(c, session=ENDED, refreshing=False, in_flight=1, waiting=[], stats={"refreshes": 1})
    # The ticket still in flight: its 401 fails with SESSION_EXPIRED, and starts nothing.
    assert described(c.response(t3, 401, 3.1, refresh_wanted=True)) == [("fail", 3, SESSION_EXPIRED)]
    # Another end (a sign-out, or a second definitive answer) emits nothing more.
    assert described(c.end_session(SESSION_EXPIRED)) == []
    assert described(c.refresh_failed(3.2, status=401)) == []
    expect(c, session=ENDED, refreshing=False, in_flight=0, waiting=[], stats={"refreshes": 1})

    # A sign-in makes the session live again, with new credentials.
    assert described(c.signed_in(4.0)) == []
    expect(c, session=LIVE, generation=1)
    t20 = Ticket(20)
    assert described(c.start(t20, 4.1)) == [("send", 20, 1, False)]


def test_a_200_during_an_ended_session_is_still_delivered():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    start_refresh_with_401(c, t1)
    c.refresh_failed(2.0, status=401)
    assert described(c.response(t2, 200, 2.1, refresh_wanted=False)) == [("deliver", 2)]
    expect(c, session=ENDED, in_flight=0, waiting=[])


def test_a_sign_out_fails_held_tickets_without_the_session_expired_event():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    c.end_session()
    expect(c, session=SIGNED_OUT)
    assert described(c.start(t2, 1.0)) == [("fail", 2, SESSION_EXPIRED)]
    assert described(c.response(t1, 401, 1.0, refresh_wanted=True)) == [("fail", 1, SESSION_EXPIRED)]
    expect(c, session=SIGNED_OUT, refreshing=False, in_flight=0, waiting=[], stats={"refreshes": 0})


# -- transient refresh failures -------------------------------------------------------------------


def test_transient_failures_retry_with_growing_delays_then_give_up_and_keep_the_session():
    c = make(refresh_retries=3)
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.start(t2, 1.1)) == []

    # attempt 1 failed: retry 1 after 0.25 s
    assert described(c.refresh_failed(1.5, status=503, error="503")) == [("retry-refresh", 2, 0.25)]
    expect(c, session=LIVE, refreshing=True, waiting=[1, 2], stats={"refreshes": 1})
    assert described(c.retry_refresh(1.75)) == [("start-refresh", 2, "retry", 0)]
    expect(c, refreshing=True, stats={"refreshes": 2})
    # attempt 2 failed with no status (network error): retry 2 after 0.5 s
    assert described(c.refresh_failed(2.0, error="network")) == [("retry-refresh", 3, 0.5)]
    assert described(c.retry_refresh(2.5)) == [("start-refresh", 3, "retry", 0)]
    # attempt 3: a 429, retry 3 after 1.0 s
    assert described(c.refresh_failed(3.0, status=429)) == [("retry-refresh", 4, 1.0)]
    assert described(c.retry_refresh(4.0)) == [("start-refresh", 4, "retry", 0)]
    expect(c, refreshing=True, waiting=[1, 2], stats={"refreshes": 4})
    # attempt 4 (retry 3 of 3) failed: give up
    assert described(c.refresh_failed(5.0, status=502, error="bad gateway")) == [
        ("fail", 1, REFRESH_FAILED),
        ("fail", 2, REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": 502, "error": "bad gateway"}),
    ]
    expect(c, session=LIVE, generation=0, refreshing=False, in_flight=0, waiting=[], stats={"refreshes": 4})
    assert c.attempt == 0
    # A pending retry that fires late does nothing.
    assert described(c.retry_refresh(6.0)) == []
    expect(c, refreshing=False, stats={"refreshes": 4})

    # The session was kept: the next ticket is sent, and its 401 tries again from attempt 1.
    t3 = Ticket(3)
    assert described(c.start(t3, 7.0)) == [("send", 3, 0, False)]
    start_refresh_with_401(c, t3, now=7.5)
    expect(c, refreshing=True, stats={"refreshes": 5})
    assert described(c.refresh_failed(8.0, status=503)) == [("retry-refresh", 2, 0.25)]


def test_backoff_doubles_up_to_the_cap():
    c = make(refresh_retries=8)
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    delays = []
    for attempt in range(2, 10):
        (retry,) = c.refresh_failed(float(attempt), status=503)
        assert (retry.kind, retry.attempt) == ("retry-refresh", attempt)
        delays.append(retry.delay)
        assert described(c.retry_refresh(float(attempt))) == [("start-refresh", attempt, "retry", 0)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert BACKOFF_BASE == 0.25 and BACKOFF_CAP == 8.0
    assert [command.kind for command in c.refresh_failed(10.0, status=503)] == ["fail", "emit"]


@pytest.mark.parametrize("jitter, delay", [(0.0, 0.125), (0.5, 0.25), (0.999, 0.37475)])
def test_backoff_is_jittered_by_the_random_source(jitter, delay):
    c = make(random=lambda: jitter)
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    (retry,) = c.refresh_failed(2.0, status=503)
    assert retry.attempt == 2
    assert retry.delay == pytest.approx(delay)


def test_retry_after_is_honoured():
    c = make()
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_failed(2.0, status=429, retry_after=5)) == [("retry-refresh", 2, 5)]
    assert described(c.retry_refresh(7.0)) == [("start-refresh", 2, "retry", 0)]
    # A Retry-After shorter than the backoff does not shorten it.
    assert described(c.refresh_failed(7.5, status=503, retry_after=0.1)) == [("retry-refresh", 3, 0.5)]
    assert described(c.retry_refresh(8.0)) == [("start-refresh", 3, "retry", 0)]
    # Exactly MAX_RETRY_AFTER is still waited for.
    assert described(c.refresh_failed(8.5, status=503, retry_after=MAX_RETRY_AFTER)) == [
        ("retry-refresh", 4, MAX_RETRY_AFTER)
    ]
    expect(c, session=LIVE, refreshing=True, waiting=[1])


def test_a_retry_after_longer_than_the_maximum_gives_up_at_once():
    c = make(refresh_retries=3)
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.start(t2, 1.1)
    assert described(c.refresh_failed(2.0, status=503, retry_after=MAX_RETRY_AFTER + 1, error="busy")) == [
        ("fail", 1, REFRESH_FAILED),
        ("fail", 2, REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": 503, "error": "busy"}),
    ]
    expect(c, session=LIVE, refreshing=False, waiting=[], in_flight=0, stats={"refreshes": 1})
    assert described(c.retry_refresh(3.0)) == []


def test_no_retries_gives_up_after_the_first_failure():
    c = make(refresh_retries=0)
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_failed(2.0, error="network")) == [
        ("fail", 1, REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": None, "error": "network"}),
    ]
    expect(c, session=LIVE, refreshing=False, stats={"refreshes": 1})


def test_a_success_after_transient_failures_replays_everything_held():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.start(t2, 1.1)
    assert described(c.refresh_failed(1.5, status=503)) == [("retry-refresh", 2, 0.25)]
    assert described(c.retry_refresh(1.75)) == [("start-refresh", 2, "retry", 0)]
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
        ("send", 2, 1, False),
    ]
    assert c.attempt == 0
    expect(c, refreshing=False, stats={"refreshes": 2, "refresh_successes": 1, "replays": 1})


# -- max_in_flight ----------------------------------------------------------------------------------


def test_max_in_flight_queues_tickets_and_sends_them_as_slots_free():
    c = make(max_in_flight=2)
    t1, t2, t3, t4, t5 = tickets(5)
    assert described(c.start(t1, 0.0)) == [("send", 1, 0, False)]
    assert described(c.start(t2, 0.0)) == [("send", 2, 0, False)]
    assert described(c.start(t3, 0.0)) == []
    assert described(c.start(t4, 0.0)) == []
    assert described(c.start(t5, 0.0)) == []
    expect(c, in_flight=2, waiting=[3, 4, 5])
    assert t3.state == "waiting"

    assert described(c.response(t1, 200, 1.0, refresh_wanted=False)) == [
        ("deliver", 1),
        ("send", 3, 0, False),
    ]
    expect(c, in_flight=2, waiting=[4, 5])
    assert described(c.abandon(t2, 1.1)) == [("send", 4, 0, False)]  # a network error frees the slot
    expect(c, in_flight=2, waiting=[5])
    assert described(c.response(t3, 200, 1.2, refresh_wanted=False)) == [
        ("deliver", 3),
        ("send", 5, 0, False),
    ]
    assert described(c.response(t4, 200, 1.3, refresh_wanted=False)) == [("deliver", 4)]
    assert described(c.response(t5, 200, 1.4, refresh_wanted=False)) == [("deliver", 5)]
    expect(c, in_flight=0, waiting=[])


def test_max_in_flight_once_a_current_401_arrives_no_queued_ticket_is_handed_over():
    c = make(max_in_flight=2)
    t1, t2, t3, t4 = tickets(4)
    c.start(t1, 0.0)
    c.start(t2, 0.0)
    c.start(t3, 0.0)
    c.start(t4, 0.0)
    expect(c, in_flight=2, waiting=[3, 4])

    start_refresh_with_401(c, t1)
    expect(c, refreshing=True, in_flight=1, waiting=[1, 3, 4])
    # t2's 200 frees a slot, but t3 would carry a credential known to be stale: it stays.
    assert described(c.response(t2, 200, 1.1, refresh_wanted=False)) == [("deliver", 2)]
    expect(c, refreshing=True, in_flight=0, waiting=[1, 3, 4])
    assert (t3.state, t4.state) == ("waiting", "waiting")

    # The refresh ends: the replay first, then as many as fit.
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
        ("send", 3, 1, False),
    ]
    expect(c, generation=1, refreshing=False, in_flight=2, waiting=[4])
    assert described(c.response(t1, 200, 2.5, refresh_wanted=False)) == [
        ("deliver", 1),
        ("send", 4, 1, False),
    ]


def test_max_held_counts_tickets_held_by_max_in_flight():
    # Stats.max_held is "most tickets waiting at once"; the docstring says a ticket waits in
    # ``waiting`` while a refresh runs *or* while max_in_flight tickets are out.
    c = make(max_in_flight=1)
    t1, t2, t3 = tickets(3)
    c.start(t1, 0.0)
    c.start(t2, 0.0)
    c.start(t3, 0.0)
    expect(c, in_flight=1, waiting=[2, 3])
    expect(c, stats={"max_held": 2})


# -- refresh before expiry ----------------------------------------------------------------------


def test_proactive_refresh_leeway_seconds_before_expiry():
    c = make(leeway=30)
    t1, t2, t3, t4 = tickets(4)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_succeeded(100.0, lifetime=60)) == [
        ("schedule", 30.0),
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
    ]
    assert c.refresh_at == 130.0
    # Before expires_at - leeway: sent as usual.
    assert described(c.start(t2, 129.9)) == [("send", 2, 1, False)]
    expect(c, refreshing=False, stats={"refreshes": 1})

    # At expires_at - leeway: a refresh starts ("expiry") and the ticket is held.
    assert described(c.start(t3, 130.0)) == [
        ("start-refresh", 1, "expiry", 0),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
    ]
    expect(c, refreshing=True, in_flight=2, waiting=[3], stats={"refreshes": 2})
    # A ticket sent before it, answered 401 now, joins the same refresh.
    assert described(c.response(t2, 401, 130.5, refresh_wanted=True)) == []
    assert described(c.start(t4, 130.6)) == []
    expect(c, refreshing=True, in_flight=1, waiting=[2, 3, 4], stats={"refreshes": 2})

    assert described(c.refresh_succeeded(131.0, lifetime=60)) == [
        ("schedule", 30.0),
        ("emit", "refresh", {"generation": 2, "source": "local"}),
        ("send", 2, 2, True),
        ("send", 3, 2, False),
        ("send", 4, 2, False),
    ]
    assert c.refresh_at == 161.0
    expect(c, refreshing=False, stats={"refreshes": 2, "refresh_successes": 2})
    # Well before the next renewal, a new ticket goes straight out again.
    t5 = Ticket(5)
    assert described(c.start(t5, 140.0)) == [("send", 5, 2, False)]


def test_wake_renews_only_when_due_and_only_once():
    c = make(leeway=30)
    (t1,) = tickets(1)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.refresh_succeeded(100.0, lifetime=60)
    assert described(c.wake(129.9)) == []
    expect(c, refreshing=False, stats={"refreshes": 1})
    assert described(c.wake(130.0)) == [
        ("start-refresh", 1, "expiry", 0),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
    ]
    expect(c, refreshing=True, stats={"refreshes": 2})
    assert described(c.wake(130.5)) == []  # page visible again while it runs: no second refresh
    assert described(c.refresh_failed(131.0, status=401)) == [
        ("emit", "session-expired", {"status": 401, "error": None})
    ]
    assert c.refresh_at is None
    assert described(c.wake(1000.0)) == []
    expect(c, session=ENDED, refreshing=False, stats={"refreshes": 2})


def test_a_refresh_without_a_lifetime_never_refreshes_proactively():
    c = make(leeway=30)
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_succeeded(100.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
    ]
    assert c.refresh_at is None
    assert described(c.start(t2, 1e9)) == [("send", 2, 1, False)]
    assert described(c.wake(1e9)) == []


def test_no_leeway_means_no_renewal_ahead_of_expiry():
    c = make(leeway=None)
    (t1,) = tickets(1)
    assert described(c.signed_in(0.0, lifetime=60)) == []
    assert c.refresh_at is None
    assert described(c.start(t1, 1e9)) == [("send", 1, 1, False)]


def test_a_sign_in_with_a_lifetime_sets_the_renewal():
    c = make(leeway=10)
    t1, t2 = tickets(2)
    assert described(c.signed_in(0.0, lifetime=20)) == [("schedule", 10.0)]
    expect(c, generation=1, session=LIVE)
    assert c.epoch == 1
    assert described(c.start(t1, 9.9)) == [("send", 1, 1, False)]
    assert described(c.start(t2, 10.0)) == [
        ("start-refresh", 1, "expiry", 1),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
    ]


def test_a_lifetime_shorter_than_the_leeway_renews_at_half_life_not_before_every_request():
    # Issue 4: a 5 s access token with the default leeway of 30 s must give "at most one
    # refresh per access-token lifetime", not one refresh per request.
    c = make()  # leeway = DEFAULT_LEEWAY = 30
    t1, t2, t3 = tickets(3)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    assert described(c.refresh_succeeded(100.0, lifetime=5)) == [
        ("schedule", 2.5),
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
    ]
    c.response(t1, 200, 100.0, refresh_wanted=False)
    # The credential is brand new: a ticket started right now is simply sent.
    assert described(c.start(t2, 100.0)) == [("send", 2, 1, False)]
    expect(c, refreshing=False, stats={"refreshes": 1})
    assert described(c.start(t3, 102.5)) == [
        ("start-refresh", 1, "expiry", 0),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
    ]


# -- sign-in, sign-out, another tab ---------------------------------------------------------------


def test_a_sign_in_makes_earlier_401s_replay_at_once():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    assert described(c.signed_in(1.0)) == []
    expect(c, generation=1, session=LIVE, in_flight=2)
    assert described(c.response(t1, 401, 1.5, refresh_wanted=True)) == [("send", 1, 1, True)]
    expect(c, refreshing=False, stats={"refreshes": 0, "replays": 1})


def test_a_sign_in_during_a_refresh_releases_held_tickets_and_the_old_outcome_is_ignored():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)  # epoch 0
    c.start(t2, 1.1)
    assert described(c.signed_in(2.0)) == [("send", 1, 1, True), ("send", 2, 1, False)]
    expect(c, session=LIVE, generation=1, refreshing=False, in_flight=2, waiting=[])
    assert c.epoch == 1
    before = snapshot(c, t1, t2)
    assert described(c.refresh_failed(3.0, status=401, epoch=0)) == []
    assert described(c.refresh_failed(3.0, status=503, epoch=0)) == []
    assert described(c.refresh_succeeded(3.0, lifetime=60, epoch=0)) == []
    assert snapshot(c, t1, t2) == before


def test_a_refresh_started_before_a_sign_out_and_sign_in_does_not_end_the_new_session():
    # Sign out while a refresh is on the wire, then sign in again: the old refresh token was
    # revoked by the sign-out, so the old refresh call answers 401. That answer is about the
    # credentials of the old session, not the one the sign-in just created.
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)  # epoch 0
    assert described(c.end_session()) == [("fail", 1, SESSION_EXPIRED)]
    expect(c, session=SIGNED_OUT, refreshing=False)
    assert described(c.signed_in(2.0)) == []
    expect(c, session=LIVE, generation=1)
    assert c.epoch == 2
    assert described(c.start(t2, 2.1)) == [("send", 2, 1, False)]
    assert described(c.refresh_failed(3.0, status=401, epoch=0)) == []
    expect(c, session=LIVE, generation=1, refreshing=False, in_flight=1)


def test_a_retry_timer_from_before_a_sign_in_does_not_start_a_second_refresh():
    # A RetryRefresh timer is not cancelled. A sign-in ends the round it belonged to; when the
    # timer fires during the *next* round, with its own epoch, it must do nothing.
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)  # epoch 0
    retry = c.refresh_failed(1.5, status=503, epoch=0)
    assert described(retry) == [("retry-refresh", 2, 0.25)] and retry[0].epoch == 0
    assert described(c.signed_in(1.6)) == [("send", 1, 1, True)]
    assert described(c.start(t2, 1.6)) == [("send", 2, 1, False)]
    assert described(c.response(t2, 401, 1.7, refresh_wanted=True)) == [
        ("start-refresh", 1, "401", 1),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
    ]
    expect(c, refreshing=True, stats={"refreshes": 2})
    # The old timer fires while the epoch-1 refresh is outstanding.
    assert described(c.retry_refresh(1.85, epoch=retry[0].epoch)) == []
    expect(c, refreshing=True, stats={"refreshes": 2})
    assert c.attempt == 1


def test_another_tab_refreshing_settles_this_tabs_round():
    c = make(leeway=30)
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)  # epoch 0, waiting for the cross-tab lock
    c.start(t2, 1.1)
    assert described(c.remote_refreshed(2.0, lifetime=60, tab="tab-2")) == [
        ("schedule", 30.0),
        ("emit", "refresh", {"generation": 1, "source": "remote", "tab": "tab-2"}),
        ("send", 1, 1, True),
        ("send", 2, 1, False),
    ]
    expect(c, session=LIVE, generation=1, refreshing=False, in_flight=2, waiting=[])
    assert c.epoch == 1
    assert described(c.refresh_succeeded(2.5, epoch=0)) == []  # this tab's own call, now stale
    expect(c, generation=1, stats={"refresh_successes": 0})


def test_another_tab_refreshing_revives_an_ended_session():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.refresh_failed(2.0, status=401, epoch=0)
    expect(c, session=ENDED)
    assert described(c.remote_refreshed(3.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "remote", "tab": None})
    ]
    assert described(c.start(t2, 3.1)) == [("send", 2, 1, False)]


# -- abandon ------------------------------------------------------------------------------------


def test_abandon_of_a_waiting_ticket_removes_it():
    c = make()
    t1, t2, t3 = tickets(3)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.start(t2, 1.1)
    c.start(t3, 1.2)
    expect(c, waiting=[1, 2, 3], stats={"max_held": 3})

    assert described(c.abandon(t2, 1.5)) == []  # its timeout ran out while it waited
    assert t2.state == "done"
    expect(c, refreshing=True, in_flight=0, waiting=[1, 3])


def test_max_held_does_not_count_abandoned_tickets():
    c = make()
    ts = tickets(5)
    send_all(c, ts[:1])
    start_refresh_with_401(c, ts[0])
    for ticket in ts[1:4]:
        c.start(ticket, 1.1)
    expect(c, stats={"max_held": 4})  # the replay of 1, and 2, 3, 4
    for ticket in ts[1:4]:
        c.abandon(ticket, 1.5)
    c.start(ts[4], 1.6)
    # Never more than four tickets waited at once: now only 1 and 5 do.
    expect(c, stats={"max_held": 4})


def test_an_abandoned_waiting_ticket_is_never_sent_nor_failed():
    c = make()
    t1, t2, t3 = tickets(3)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.start(t2, 1.1)
    c.start(t3, 1.2)
    assert described(c.abandon(t2, 1.5)) == []
    assert described(c.abandon(t2, 1.6)) == []  # twice: nothing more
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 1, 1, True),
        ("send", 3, 1, False),
    ]
    expect(c, in_flight=2, waiting=[])

    # And when the refresh fails instead, the abandoned ticket gets no Fail either.
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1])
    start_refresh_with_401(c, t1)
    c.start(t2, 1.1)
    c.abandon(t2, 1.5)
    assert described(c.refresh_failed(2.0, status=401)) == [
        ("fail", 1, SESSION_EXPIRED),
        ("emit", "session-expired", {"status": 401, "error": None}),
    ]


def test_abandon_of_an_in_flight_ticket_frees_its_slot_and_a_finished_one_is_a_no_op():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    assert described(c.abandon(t1, 1.0)) == []
    expect(c, in_flight=1, waiting=[])
    assert t1.state == "done"
    assert described(c.response(t2, 200, 1.0, refresh_wanted=False)) == [("deliver", 2)]
    before = snapshot(c, t1, t2)
    # The driver abandons every ticket in its ``finally``: after Deliver/Fail that changes nothing.
    assert described(c.abandon(t2, 1.1)) == []
    assert described(c.abandon(t1, 1.1)) == []
    assert snapshot(c, t1, t2) == before


def test_abandon_of_the_ticket_whose_401_started_the_refresh_keeps_the_refresh():
    c = make()
    t1, t2 = tickets(2)
    send_all(c, [t1, t2])
    start_refresh_with_401(c, t1)
    c.abandon(t1, 1.5)
    expect(c, refreshing=True, in_flight=1)
    assert described(c.response(t2, 401, 1.6, refresh_wanted=True)) == []
    assert described(c.refresh_succeeded(2.0)) == [
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("send", 2, 1, True),
    ]


# -- illegal inputs -----------------------------------------------------------------------------


def test_starting_a_ticket_twice_raises_and_changes_nothing():
    c = make(max_in_flight=1)
    t1, t2, t3 = tickets(3)
    c.start(t1, 0.0)  # in flight
    c.start(t2, 0.0)  # waiting
    c.start(t3, 0.0)
    c.abandon(t3, 0.1)  # done
    for ticket in (t1, t2, t3):
        before = snapshot(c, t1, t2, t3)
        with pytest.raises(ValueError, match="already started"):
            c.start(ticket, 1.0)
        assert snapshot(c, t1, t2, t3) == before


def test_a_response_for_a_ticket_not_in_flight_raises_and_changes_nothing():
    c = make(max_in_flight=1)
    t1, t2, t3, t4 = tickets(4)
    c.start(t1, 0.0)  # in flight
    c.start(t2, 0.0)  # waiting
    c.start(t3, 0.0)
    c.abandon(t3, 0.1)  # done
    # t4 was never started
    for ticket in (t2, t3, t4):
        for status, wanted in ((200, False), (401, True)):
            before = snapshot(c, t1, t2, t3, t4)
            with pytest.raises(ValueError, match="not in flight"):
                c.response(ticket, status, 1.0, refresh_wanted=wanted)
            assert snapshot(c, t1, t2, t3, t4) == before
    # A second response for a delivered ticket is refused the same way.
    c.response(t1, 200, 1.0, refresh_wanted=False)
    before = snapshot(c, t1, t2, t3, t4)
    with pytest.raises(ValueError, match="not in flight"):
        c.response(t1, 200, 1.1, refresh_wanted=False)
    assert snapshot(c, t1, t2, t3, t4) == before


def test_the_first_401_recalls_safe_tickets_of_its_generation_and_nothing_else():
    c = make()
    get1, get2, post, stream = Ticket(1, recallable=True), Ticket(2, recallable=True), Ticket(3), Ticket(4, replayable=False)
    for ticket in (get1, get2, post, stream):
        assert described(c.start(ticket, 0.0)) == [("send", ticket.ident, 0, False)]
    commands = c.response(get1, 401, 0.0, refresh_wanted=True)
    assert described(commands) == [
        ("start-refresh", 1, "401", 0),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
        ("recall", 2),  # the POST may be at the server and the stream cannot be sent again
    ]
    assert c.in_flight == 2 and c.stats.recalls == 1
    # The POST's own 401 joins the refresh; nothing is recalled twice.
    assert described(c.response(post, 401, 0.0, refresh_wanted=True)) == []
    sends = described(c.refresh_succeeded(1.0))
    assert ("send", 2, 1, True) in sends and ("send", 1, 1, True) in sends and ("send", 3, 1, True) in sends
    # A 401 with the new credential recalls nothing more: the recalled ticket has had its replay.
    assert described(c.response(get2, 401, 1.0, refresh_wanted=True)) == [("deliver", 2)]


def test_close_stops_renewals_and_gives_up_a_retry_no_request_waits_for():
    c = make(refresh_retries=3)
    assert described(c.signed_in(0.0, lifetime=60.0)) == [("schedule", 30.0)]
    assert described(c.close()) == []
    assert described(c.wake(100.0)) == []  # past the renewal time: nothing renews a closed session
    t1 = Ticket(1)
    assert described(c.start(t1, 100.0)) == [("send", 1, 1, False)]  # a request still running...
    c.response(t1, 401, 100.1, refresh_wanted=True)
    assert described(c.refresh_failed(100.2, status=503))[0][0] == "retry-refresh"  # ...is retried for
    c.abandon(t1, 100.3)  # its caller gave up: now no one waits
    assert described(c.retry_refresh(100.5)) == [
        ("emit", "refresh-failed", {"status": None, "error": "no client is left to renew for"})
    ]
    assert not c.refreshing
    c.start(Ticket(2), 101.0)
    c.response(c.flying[2], 401, 101.1, refresh_wanted=True)
    assert [d for d in described(c.refresh_succeeded(101.2, lifetime=60.0)) if d[0] == "schedule"] == []
