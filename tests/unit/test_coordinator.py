"""The coordinator driven by hand, h11-style: feed one input, assert the exact commands and state.

Each test plays the driver (session.py) and the engine: it reports what the engine held (a
refresh-wanted answer, a request past the due time) and what the refresh did, each with an
explicit ``now``. Commands are compared as plain tuples, so a failure shows the whole answer:

    ("gate", state, generation, token, seen)   ("verdict", ident, what, reason)   ("recall", gen)
    ("fail-waiting", reason)   ("start-refresh", attempt, reason, epoch)   ("take-lock", epoch)
    ("retry-refresh", attempt, delay)   ("schedule", delay)   ("emit", name, fields)
    ("announce", what, lifetime, token)

Every input ends with the gate as the coordinator sees it (``paused`` exactly while a refresh
round runs): see the invariant in coordinator.py.
"""

import ast
import pathlib

from authfetch import coordinator as coordinator_module
from authfetch.coordinator import (
    BACKOFF_BASE,
    RefreshAnswer,
    BACKOFF_CAP,
    DELIVER,
    ENDED,
    FAIL,
    LIVE,
    MAX_RETRY_AFTER,
    NON_REPLAYABLE,
    OPEN,
    PAUSED,
    REFRESH_FAILED,
    REPLAY,
    SESSION_EXPIRED,
    SIGNED_OUT,
    Coordinator,
)

HALF = lambda: 0.5  # noqa: E731  jitter factor 0.5 + 0.5 == 1.0: delays are exactly BACKOFF_BASE * 2**n


def make(**options):
    options.setdefault("random", HALF)
    return Coordinator(**options)


def described(commands):
    out = []
    for command in commands:
        kind = command.kind
        if kind == "gate":
            out.append(("gate", command.state, command.generation, command.token, command.seen))
        elif kind == "verdict":
            out.append(("verdict", command.ident, command.what, command.reason))
        elif kind == "recall":
            out.append(("recall", command.generation))
        elif kind == "fail-waiting":
            out.append(("fail-waiting", command.reason))
        elif kind == "start-refresh":
            out.append(("start-refresh", command.attempt, command.reason, command.epoch))
        elif kind == "schedule":
            out.append(("schedule", command.delay))
        elif kind == "retry-refresh":
            out.append(("retry-refresh", command.attempt, command.delay))
        elif kind == "emit":
            out.append(("emit", command.name, dict(command.fields)))
        elif kind == "take-lock":
            out.append(("take-lock", command.epoch))
        elif kind == "announce":
            out.append(("announce", command.what, command.lifetime, command.token))
        else:
            raise AssertionError(f"unknown command kind {kind!r}")
    return out


def state(coordinator):
    return {
        "generation": coordinator.generation,
        "session": coordinator.session,
        "refreshing": coordinator.refreshing,
        "attempt": coordinator.attempt,
        "epoch": coordinator.epoch,
        "refresh_at": coordinator.refresh_at,
        "seen": coordinator.seen,
        "stats": coordinator.stats.as_dict(),
    }


def answered(c, ident, generation, now=1.0, *, replayed=False, replayable=True, seen=1):
    return described(c.answered(ident, generation, now, replayed=replayed, replayable=replayable, seen=seen))


STARTS_REFRESH = [("start-refresh", 1, "401", 0), ("emit", "refresh-start", {"reason": "401", "attempt": 1})]


def refreshing(c, seen=1):
    """The first 401 of generation 0 (ticket 1): the refresh runs, the gate is paused."""
    assert answered(c, 1, 0, seen=seen) == STARTS_REFRESH + [
        ("recall", 0),
        ("verdict", 1, REPLAY, None),
        ("gate", PAUSED, 0, None, seen),
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


# -- reported answers -----------------------------------------------------------------------------


def test_initial_state_and_gate():
    c = make()
    assert state(c) == {
        "generation": 0, "session": LIVE, "refreshing": False, "attempt": 0, "epoch": 0, "refresh_at": None,
        "seen": 0, "stats": {"refreshes": 0, "refresh_successes": 0},
    }
    assert described([c.gate()]) == [("gate", OPEN, 0, None, 0)]


def test_the_first_401_of_a_generation_starts_the_refresh_recalls_and_holds_it_as_a_replay():
    c = make()
    refreshing(c)
    assert state(c)["refreshing"] and state(c)["attempt"] == 1 and c.stats.refreshes == 1


def test_later_401s_of_the_same_generation_join_the_refresh_without_a_second_recall():
    c = make()
    refreshing(c)
    for ident in (2, 3, 4):
        assert answered(c, ident, 0, seen=ident) == [("verdict", ident, REPLAY, None), ("gate", PAUSED, 0, None, ident)]
    assert c.stats.refreshes == 1


def test_success_opens_the_gate_with_the_next_generation_and_says_so():
    c = make(leeway=None)
    refreshing(c)
    assert described(c.refresh_succeeded(2.0, lifetime=60, call=c.call_out, epoch=0)) == [
        ("schedule", None),
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("gate", OPEN, 1, None, 1),
    ]
    assert not c.refreshing and c.stats.refresh_successes == 1


def test_a_late_401_of_an_older_generation_is_replayed_at_once_without_a_refresh():
    c = make()
    refreshing(c)
    c.refresh_succeeded(2.0, call=c.call_out, epoch=0)
    assert answered(c, 7, 0, seen=2) == [("verdict", 7, REPLAY, None), ("gate", OPEN, 1, None, 2)]
    assert c.stats.refreshes == 1 and not c.refreshing


def test_a_401_on_a_replay_is_delivered_no_loop():
    c = make()
    refreshing(c)
    c.refresh_succeeded(2.0, call=c.call_out, epoch=0)
    assert answered(c, 1, 1, replayed=True, seen=1) == [("verdict", 1, DELIVER, None), ("gate", OPEN, 1, None, 1)]
    assert c.stats.refreshes == 1


def test_a_non_replayable_401_fails_but_the_credential_is_still_renewed():
    c = make()
    assert answered(c, 1, 0, replayable=False) == STARTS_REFRESH + [
        ("recall", 0),
        ("verdict", 1, FAIL, NON_REPLAYABLE),
        ("gate", PAUSED, 0, None, 1),
    ]


def test_the_new_generation_recalls_again_at_its_own_first_401():
    c = make()
    refreshing(c)
    c.refresh_succeeded(2.0, call=c.call_out, epoch=0)
    assert answered(c, 9, 1, seen=2) == [
        ("start-refresh", 1, "401", 0),
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),
        ("recall", 1),
        ("verdict", 9, REPLAY, None),
        ("gate", PAUSED, 1, None, 2),
    ]


def test_seen_only_grows():
    c = make()
    refreshing(c, seen=5)
    assert answered(c, 2, 0, seen=3)[-1] == ("gate", PAUSED, 0, None, 5)


# -- the refresh failing ----------------------------------------------------------------------------


def test_a_refused_refresh_ends_the_session_once():
    for status in (400, 401, 403):
        c = make()
        refreshing(c)
        assert described(c.refresh_failed(2.0, status=status, error="no", call=c.call_out, epoch=0, seen=True)) == [
            ("fail-waiting", SESSION_EXPIRED),
            ("schedule", None),
            ("emit", "session-expired", {"status": status, "error": "no"}),
            ("gate", ENDED, 0, None, 1),
        ]
        assert c.session == ENDED and not c.refreshing
        # Later reports fail at once, and ending again says nothing new.
        assert answered(c, 5, 0, seen=2) == [("verdict", 5, FAIL, SESSION_EXPIRED), ("gate", ENDED, 0, None, 2)]
        assert described(c.end_session(SESSION_EXPIRED)) == [("fail-waiting", SESSION_EXPIRED), ("gate", ENDED, 0, None, 2)]


def test_reuse_ends_the_session_whatever_the_status():
    c = make()
    refreshing(c)
    assert described(c.refresh_failed(2.0, status=409, definitive=True, call=c.call_out, epoch=0))[-1] == ("gate", ENDED, 0, None, 1)


def test_transient_failures_retry_with_backoff_then_give_up_keeping_the_session():
    c = make(refresh_retries=2)
    refreshing(c)
    assert described(c.refresh_failed(2.0, status=503, call=c.call_out, epoch=0)) == [
        ("retry-refresh", 2, BACKOFF_BASE),
        ("gate", PAUSED, 0, None, 1),
    ]
    assert described(c.retry_refresh(2.5, epoch=0)) == [("start-refresh", 2, "retry", 0), ("gate", PAUSED, 0, None, 1)]
    assert described(c.refresh_failed(3.0, error="reset", call=c.call_out, epoch=0)) == [
        ("retry-refresh", 3, BACKOFF_BASE * 2),
        ("gate", PAUSED, 0, None, 1),
    ]
    c.retry_refresh(3.5, epoch=0)
    assert described(c.refresh_failed(4.0, status=500, error="500", call=c.call_out, epoch=0)) == [
        ("fail-waiting", REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": 500, "error": "500"}),
        ("gate", OPEN, 0, None, 1),
    ]
    assert c.session == LIVE and not c.refreshing and c.stats.refreshes == 3
    # The credential is still the stale one: the next 401 starts a new round and recalls again.
    assert answered(c, 8, 0, seen=2)[:3] == STARTS_REFRESH + [("recall", 0)]


def test_backoff_is_capped_and_retry_after_is_honoured():
    c = make(refresh_retries=20)
    refreshing(c)
    for _ in range(8):
        delay = described(c.refresh_failed(0, status=503, call=c.call_out, epoch=0))[0][2]
        c.retry_refresh(0, epoch=0)
    assert delay == BACKOFF_CAP
    assert described(c.refresh_failed(0, status=429, retry_after=12, call=c.call_out, epoch=0))[0][2] == 12


def test_a_retry_after_beyond_the_limit_gives_up_now():
    c = make()
    refreshing(c)
    commands = described(c.refresh_failed(0, status=503, retry_after=MAX_RETRY_AFTER + 1, call=c.call_out, epoch=0))
    assert commands[0] == ("fail-waiting", REFRESH_FAILED) and commands[-1] == ("gate", OPEN, 0, None, 1)


def test_outcomes_and_timers_of_an_older_epoch_change_nothing():
    c = make()
    refreshing(c)
    c.signed_in(2.0)  # epoch 1: the refresh still out belongs to the old session
    before = state(c)
    for commands in (
        c.refresh_succeeded(3.0, lifetime=60, call=c.call_out, epoch=0),
        c.refresh_failed(3.0, status=401, call=c.call_out, epoch=0),
        c.retry_refresh(3.0, epoch=0),
    ):
        assert described(commands) == [("gate", OPEN, 1, None, 1)]
        assert state(c) == before


def test_a_retry_timer_with_no_round_running_changes_nothing():
    c = make()
    before = state(c)
    assert described(c.retry_refresh(1.0, epoch=0)) == [("gate", OPEN, 0, None, 0)]
    assert state(c) == before


# -- renewal ahead of expiry ------------------------------------------------------------------------


def test_a_known_lifetime_schedules_the_renewal_at_leeway_or_half_life():
    c = make(leeway=30)
    assert described(c.signed_in(100.0, lifetime=60)) == [("schedule", 30), ("gate", OPEN, 1, None, 0)]
    assert c.refresh_at == 130
    assert described(c.signed_in(200.0, lifetime=5))[0] == ("schedule", 2.5)
    assert described(make(leeway=None).signed_in(0, lifetime=60))[0] == ("schedule", None)


def test_wake_renews_only_when_due():
    c = make(leeway=30)
    c.signed_in(100.0, lifetime=60)
    assert described(c.wake(120.0)) == [("gate", OPEN, 1, None, 0)]
    assert described(c.wake(130.0)) == [
        ("start-refresh", 1, "expiry", 1),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
        ("gate", PAUSED, 1, None, 0),
    ]
    assert described(c.wake(131.0)) == [("gate", PAUSED, 1, None, 0)]  # already renewing


def test_a_timer_that_fires_early_waits_the_rest_instead_of_skipping_the_renewal():
    # Pyodide's asyncio.sleep wakes up to ~0.3 ms before its time by time.monotonic (measured
    # in Node.js: 230 of 300 sleeps): the renewal must still happen, on the re-armed timer.
    c = make(leeway=30)
    c.signed_in(100.0, lifetime=60)
    commands = described(c.timer(129.9997))
    assert commands[0][0] == "schedule" and abs(commands[0][1] - 0.0003) < 1e-6, commands
    assert commands[1:] == [("gate", OPEN, 1, None, 0)]
    assert described(c.timer(130.0))[0] == ("start-refresh", 1, "expiry", 1)
    assert described(c.timer(131.0)) == [("gate", PAUSED, 1, None, 0)]  # already renewing


def test_a_request_past_the_due_time_starts_the_renewal_or_waits_for_the_one_running():
    c = make(leeway=30)
    c.signed_in(100.0, lifetime=60)
    assert described(c.due(131.0, seen=1)) == [
        ("start-refresh", 1, "expiry", 1),
        ("emit", "refresh-start", {"reason": "expiry", "attempt": 1}),
        ("gate", PAUSED, 1, None, 1),
    ]
    assert described(c.due(131.5, seen=2)) == [("gate", PAUSED, 1, None, 2)]


def test_a_due_report_with_no_renewal_planned_reopens_the_gate():
    c = make(leeway=None)
    c.signed_in(0, lifetime=60)
    assert described(c.due(100.0, seen=1)) == [("gate", OPEN, 1, None, 1)]
    assert not c.refreshing


# -- sign-in, sign-out, other tabs, close ----------------------------------------------------------


def test_sign_out_ends_the_session_without_the_expiry_event():
    c = make()
    assert described(c.end_session()) == [("fail-waiting", SESSION_EXPIRED), ("schedule", None), ("gate", ENDED, 0, None, 0)]
    assert c.session == SIGNED_OUT and c.epoch == 1


def test_sign_in_revives_an_ended_session_with_a_new_generation():
    c = make(leeway=None, requires_token=True)
    refreshing(c)
    c.refresh_failed(2.0, status=401, call=c.call_out, epoch=0)
    assert described(c.signed_in(3.0, token="t2")) == [("schedule", None), ("gate", OPEN, 1, "t2", 1)]
    assert c.session == LIVE and c.epoch == 2  # the end began one epoch, the sign-in another


def test_the_bearer_token_travels_with_the_open_gate_and_leaves_with_the_session():
    c = make(leeway=None, requires_token=True)
    assert described(c.signed_in(0, token="a1"))[-1] == ("gate", OPEN, 1, "a1", 0)
    assert answered(c, 1, 1, seen=1)[-1] == ("gate", PAUSED, 1, "a1", 1)  # the stale one, until renewed
    assert described(c.refresh_succeeded(1.0, token="a2", call=c.call_out, epoch=1))[-1] == ("gate", OPEN, 2, "a2", 1)
    assert described(c.end_session())[-1] == ("gate", ENDED, 2, None, 1)


def test_another_tabs_renewal_settles_this_tabs_round():
    c = make(leeway=None)
    refreshing(c)
    assert described(c.remote_refreshed(2.0, lifetime=None, tab="t")) == [
        ("schedule", None),
        ("emit", "refresh", {"generation": 1, "source": "remote", "tab": "t"}),
        ("gate", OPEN, 1, None, 1),
    ]
    assert not c.refreshing and c.epoch == 1
    assert described(c.refresh_succeeded(3.0, call=c.call_out, epoch=0)) == [("gate", OPEN, 1, None, 1)]  # its own, late: stale


def test_close_stops_renewals_and_a_round_no_one_waits_for_gives_up():
    c = make(leeway=30)
    c.signed_in(0, lifetime=60)
    assert described(c.close()) == [("schedule", None), ("gate", OPEN, 1, None, 0)]
    assert c.refresh_at is None and described(c.wake(100.0)) == [("gate", OPEN, 1, None, 0)]
    refreshing_round = c.answered(1, 1, 1.0, replayed=False, replayable=True, seen=1)
    assert described(refreshing_round)[-1][1] == PAUSED
    # Nothing waits: no retry, the round gives up and the gate opens.
    assert described(c.refresh_failed(2.0, status=503, call=c.call_out, epoch=1, waiting=0))[-1] == ("gate", OPEN, 1, None, 1)
    # Something waits: the round is retried for it.
    c.answered(2, 1, 3.0, replayed=False, replayable=True, seen=2)
    assert described(c.refresh_failed(4.0, status=503, call=c.call_out, epoch=1, waiting=1))[0][0] == "retry-refresh"
    assert described(c.retry_refresh(5.0, epoch=1, waiting=0))[-1] == ("gate", OPEN, 1, None, 2)


def test_a_refresh_ending_after_close_schedules_no_renewal():
    c = make(leeway=30)
    refreshing(c)
    c.close()
    assert described(c.refresh_succeeded(2.0, lifetime=60, call=c.call_out, epoch=0))[0] == ("schedule", None)


# -- the gate invariant, input by input -------------------------------------------------------------


def test_every_input_ends_with_the_gate_paused_exactly_while_a_round_runs():
    c = make(leeway=30, refresh_retries=1)
    inputs = [
        lambda: c.answered(1, 0, 1.0, replayed=False, replayable=True, seen=1),
        lambda: c.answered(2, 0, 1.0, replayed=False, replayable=True, seen=2),
        lambda: c.refresh_failed(2.0, status=503, call=c.call_out, epoch=c.epoch),
        lambda: c.retry_refresh(2.5, epoch=c.epoch),
        lambda: c.refresh_failed(3.0, error="x", call=c.call_out, epoch=c.epoch),
        lambda: c.answered(3, 0, 4.0, replayed=False, replayable=False, seen=3),
        lambda: c.refresh_succeeded(5.0, lifetime=10, call=c.call_out, epoch=c.epoch),
        lambda: c.wake(11.0),
        lambda: c.due(11.0, seen=4),
        lambda: c.remote_refreshed(12.0, lifetime=10),
        lambda: c.due(20.0, seen=5),
        lambda: c.refresh_failed(21.0, status=401, call=c.call_out, epoch=c.epoch),
        lambda: c.answered(4, 1, 22.0, replayed=False, replayable=True, seen=6),
        lambda: c.signed_in(23.0, lifetime=None),
        lambda: c.answered(5, 2, 24.0, replayed=False, replayable=True, seen=7),
        lambda: c.end_session(),
        lambda: c.signed_in(25.0),
        lambda: c.close(),
    ]
    for index, step in enumerate(inputs):
        commands = described(step())
        gates = [command for command in commands if command[0] == "gate"]
        assert gates == commands[-1:], f"input {index}: the gate must come last, once: {commands}"
        expected = ENDED if c.session != LIVE else PAUSED if c.refreshing else OPEN
        assert gates[0][1] == expected, f"input {index}: {commands} with {state(c)}"


# -- a first visit ----------------------------------------------------------------------------------


def test_a_refused_refresh_on_a_page_that_never_saw_a_session_says_no_session_not_expired():
    c = make()
    refreshing(c)
    commands = described(c.refresh_failed(2.0, status=401, error="no_refresh_token", call=c.call_out, epoch=0))
    assert ("emit", "no-session", {"status": 401, "error": "no_refresh_token"}) in commands
    assert not [command for command in commands if command[:2] == ("emit", "session-expired")]
    assert commands[-1] == ("gate", ENDED, 0, None, 1) and c.session == ENDED
    # A page that showed its session cookie when the round began had a session: it expired.
    c = make()
    refreshing(c)
    assert ("emit", "session-expired", {"status": 401, "error": None}) in described(
        c.refresh_failed(2.0, status=401, call=c.call_out, epoch=0, seen=True)
    )


def test_a_2xx_of_the_current_credential_shows_a_session_exists():
    c = make()
    assert described(c.authenticated(0, 1.0)) == [("gate", OPEN, 0, None, 0)]
    refreshing(c)
    assert ("emit", "session-expired", {"status": 401, "error": None}) in described(c.refresh_failed(2.0, status=401, call=c.call_out, epoch=0))
    # Ended: the next refusal says no-session until a session is seen again.
    c.signed_in(3.0)
    assert c.known
    c.end_session()
    assert not c.known
    stale = make()
    stale.authenticated(5, 1.0)  # a report of an older (or unknown) credential proves nothing
    assert not stale.known


# -- the refresh answer, as read at the edge --------------------------------------------------------


def test_a_2xx_json_answer_is_a_renewal_with_its_checked_lifetime():
    c = make(leeway=10.0)
    refreshing(c)
    assert described(c.refresh_answered(2.0, RefreshAnswer(200, token="t", lifetime=60.0), epoch=0)) == [
        ("schedule", 50.0),
        ("emit", "refresh", {"generation": 1, "source": "local"}),
        ("gate", OPEN, 1, None, 1),  # cookie mode: the token in the answer is not the credential
    ]


def test_a_2xx_that_is_no_refresh_answer_is_a_transient_failure_naming_why():
    c = make(refresh_retries=0)
    refreshing(c)
    answer = RefreshAnswer(200, problem="its body is an HTML page, not JSON (is refresh_url the refresh endpoint?)")
    commands = described(c.refresh_answered(2.0, answer, epoch=0))
    error = "refresh answered 200, but its body is an HTML page, not JSON (is refresh_url the refresh endpoint?)"
    assert commands == [
        ("fail-waiting", REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": 200, "error": error}),
        ("gate", OPEN, 0, None, 1),
    ]
    assert c.refresh_answered.__doc__  # (an input, documented like the others)


def test_bearer_mode_takes_no_renewal_without_a_usable_token():
    for answer, named in [
        (RefreshAnswer(200), "it carries no access token"),
        (RefreshAnswer(200, token_problem="it contains '\\n' at 3"), "cannot be sent in an HTTP header"),
    ]:
        c = make(requires_token=True, refresh_retries=0)
        refreshing(c)
        failed = c.refresh_answered(2.0, answer, epoch=0)
        assert failed[0].kind == "fail-waiting" and named in failed[0].message, failed[0].message
        assert described(failed)[-1] == ("gate", OPEN, 0, None, 1)
    c = make(requires_token=True)
    refreshing(c)
    assert described(c.refresh_answered(2.0, RefreshAnswer(200, token="t2"), epoch=0))[-1] == ("gate", OPEN, 1, "t2", 1)


def test_reuse_reported_in_any_status_ends_the_session():
    c = make()
    refreshing(c)
    assert described(c.refresh_answered(2.0, RefreshAnswer(409, ended=True, message="refresh_token_reused"), epoch=0))[-1] == (
        "gate", ENDED, 0, None, 1,
    )


def test_a_retry_after_from_the_edge_paces_the_retry():
    c = make()
    refreshing(c)
    assert described(c.refresh_answered(2.0, RefreshAnswer(503, retry_after=7.0), epoch=0))[0] == ("retry-refresh", 2, 7.0)


def test_a_lifetime_that_is_no_lifetime_plans_no_renewal_even_if_it_slipped_past_the_edge():
    for lifetime in (float("inf"), float("nan"), 1e300, -1.0, 0, True, "60"):
        c = make()
        refreshing(c)
        assert described(c.refresh_succeeded(2.0, lifetime=lifetime, call=c.call_out, epoch=0))[0] == ("schedule", None), lifetime


# -- the cross-tab lock ------------------------------------------------------------------------------


def test_cross_tab_rounds_take_the_lock_first_and_call_under_it():
    c = make(cross_tab=True)
    assert answered(c, 1, 0)[:2] == [("take-lock", 0), ("emit", "refresh-start", {"reason": "401", "attempt": 1})]
    assert described(c.lock_acquired(1.5, epoch=0)) == [("start-refresh", 1, "401", 0), ("gate", PAUSED, 0, None, 1)]


def test_a_renewal_found_under_the_lock_is_adopted_in_cookie_mode_only():
    c = make(cross_tab=True, leeway=None)
    answered(c, 1, 0)
    commands = described(c.lock_acquired(1.5, epoch=0, renewed_elsewhere=True, lifetime=20.0))
    assert commands[-2:] == [("emit", "refresh", {"generation": 1, "source": "remote", "tab": None}), ("gate", OPEN, 1, None, 1)]
    c = make(cross_tab=True, requires_token=True)
    answered(c, 1, 0)
    assert described(c.lock_acquired(1.5, epoch=0, renewed_elsewhere=True))[0] == ("start-refresh", 1, "401", 0)


def test_a_lock_granted_after_the_round_settled_starts_nothing():
    c = make(cross_tab=True)
    answered(c, 1, 0)
    c.remote(1.2, "refreshed", fresh=True)  # another tab's message came first
    assert described(c.lock_acquired(1.5, epoch=0)) == [("gate", OPEN, 1, None, 1)]


def test_a_lock_not_granted_is_a_transient_failure():
    c = make(cross_tab=True)
    answered(c, 1, 0)
    assert described(c.lock_failed(11.0, epoch=0, error="not granted within 10 s"))[0][0] == "retry-refresh"


def test_renewals_sign_ins_and_ends_are_announced_to_the_other_tabs():
    c = make(cross_tab=True, leeway=None, requires_token=True)
    assert ("announce", "signed-in", 20.0, "t1") in described(c.signed_in(0, token="t1", lifetime=20))
    answered(c, 1, 1)
    c.lock_acquired(1.0, epoch=c.epoch)
    assert ("announce", "refreshed", None, "t2") in described(c.refresh_succeeded(2.0, token="t2", call=c.call_out, epoch=c.epoch))
    answered(c, 2, 2, seen=2)
    c.lock_acquired(3.0, epoch=c.epoch)
    assert ("announce", SESSION_EXPIRED, None, None) in described(c.refresh_failed(4.0, status=401, call=c.call_out, epoch=c.epoch))
    assert ("announce", SIGNED_OUT, None, None) in described(c.end_session())
    assert not [x for x in described(make().end_session()) if x[0] == "announce"], "no tabs: nothing to tell"


# -- other tabs' messages -------------------------------------------------------------------------------


def test_another_tabs_messages_are_decided_here():
    c = make(leeway=None)
    assert described(c.remote(1.0, "refreshed", lifetime=None, tab="t"))[-1] == ("gate", OPEN, 1, None, 0)
    assert described(c.remote(1.5, "refreshed", fresh=False)) == [("gate", OPEN, 1, None, 0)], "adopted already"
    assert described(c.remote(2.0, "signed-out", tab="t"))[-1] == ("gate", ENDED, 1, None, 0)
    assert described(c.remote(3.0, "signed-in", lifetime=None))[-1] == ("gate", OPEN, 2, None, 0)
    b = make(requires_token=True)
    assert described(b.remote(1.0, "refreshed")) == [("gate", OPEN, 0, None, 0)], "bearer: no shared token, no renewal"
    assert described(b.remote(1.0, "refreshed", token="t9"))[-1] == ("gate", OPEN, 1, "t9", 0)


# -- faults -----------------------------------------------------------------------------------------------


def test_a_fault_ends_the_round_at_once_and_fails_what_it_held_naming_the_cause():
    c = make()
    refreshing(c)
    commands = c.faulted(2.0, error="MemoryError: allocating 5243115 bytes (in the refresh call)", held=(4, 5), seen=3)
    assert described(commands) == [
        ("verdict", 4, FAIL, REFRESH_FAILED),
        ("verdict", 5, FAIL, REFRESH_FAILED),
        ("fail-waiting", REFRESH_FAILED),
        ("emit", "refresh-failed", {"status": None, "error": "authfetch failed on the way: MemoryError: allocating 5243115 bytes (in the refresh call)"}),
        ("gate", OPEN, 0, None, 3),
    ]
    assert "MemoryError" in commands[0].message and "MemoryError" in commands[2].message
    assert not c.refreshing and c.epoch == 1, "the round's call, if still out, is stale now"
    assert described(c.refresh_succeeded(3.0, call=c.call_out, epoch=0)) == [("gate", OPEN, 0, None, 3)]


def test_a_fault_outside_a_round_only_says_where_the_gate_stands():
    c = make()
    assert described(c.faulted(1.0, error="x", seen=2)) == [("gate", OPEN, 0, None, 2)]
    refreshing(c, seen=3)
    assert described(c.faulted(2.0, error="x", epoch=5)) == [("gate", PAUSED, 0, None, 3)], "a stale task's fault"


def test_another_tabs_end_ends_the_round_this_tab_runs():
    c = make(cross_tab=True)
    answered(c, 1, 0)  # the round waits for the cross-tab lock
    assert described(c.remote(1.2, SIGNED_OUT, tab="t"))[-1] == ("gate", ENDED, 0, None, 1)
    assert not c.refreshing
    assert described(c.lock_acquired(1.5, epoch=0)) == [("gate", ENDED, 0, None, 1)], "no call for a session that ended"


def test_a_round_calls_only_once_a_stale_call_still_out_has_landed():
    # Two calls out at once would present one refresh token twice: with rotation, the server
    # revokes the whole family. After a fault the first call is stale, but it may still be out.
    c = make()
    assert answered(c, 1, 0)[0] == ("start-refresh", 1, "401", 0)
    c.faulted(1.1, error="x")
    assert answered(c, 2, 0, seen=2) == [
        ("emit", "refresh-start", {"reason": "401", "attempt": 1}),  # no call yet: one is out
        ("recall", 0),
        ("verdict", 2, REPLAY, None),
        ("gate", PAUSED, 0, None, 2),
    ]
    landed = c.refresh_answered(1.5, RefreshAnswer(200), epoch=0, call=1)  # the stale one comes back
    assert described(landed) == [("start-refresh", 1, "401", 1), ("gate", PAUSED, 0, None, 2)]
    assert landed[0].call == 2
    assert described(c.refresh_answered(2.0, RefreshAnswer(200), epoch=1, call=2))[-1] == ("gate", OPEN, 1, None, 2)
