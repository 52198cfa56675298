"""Property tests: the coordinator under random interleavings, checked after every step.

A small simulated driver plays session.py: it starts tickets, answers in-flight ones
(200/401/403/5xx, ``refresh_wanted`` only for 401), drops them (network error, timeout), times out
held ones, finishes a refresh call (success, 401, 503, network error), fires a RetryRefresh timer,
wakes the page, signs in (and, rarely, out, or another tab refreshes), and lets time pass. It
carries out every command as session.py does (a refresh call hands its StartRefresh epoch back
with the outcome; a RetryRefresh timer is never cancelled) and keeps its own record of each
ticket, against which the invariants of issue 4 are checked:

- one refresh at a time: a StartRefresh never arrives while a refresh of the same session
  (epoch) is on the wire or waiting to be retried;
- every ticket ends exactly once (one Deliver, Fail or abandon), and gets nothing after it;
- no ticket is replayed twice; only a safe (recallable) ticket is recalled, only while in flight,
  and only once a 401 of its generation arrived, and its next send is its replay;
- nothing is sent after "session-expired" (or a sign-out) until a sign-in; the event fires once;
- a Send always carries the current generation;
- a refresh round makes at most ``refresh_retries + 1`` attempts;
- no ticket waits for nothing: when no refresh holds it, only ``max_in_flight`` may;
- when the schedule drains, no ticket is left waiting or in flight.

``derandomize=True`` and ``database=None`` keep CI deterministic.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from authfetch.coordinator import ENDED, LIVE, Coordinator, Ticket

DETERMINISTIC = {"derandomize": True, "database": None, "deadline": None}

WAITING, IN_FLIGHT, ENDED_TICKET = "waiting", "in-flight", "ended"


class Driver:
    """The simulated driver: carries out commands and records what each ticket went through."""

    def __init__(self, coordinator):
        self.coordinator = coordinator
        self.now = 0.0
        self.tickets = {}  # ident -> Ticket
        self.status = {}  # ident -> WAITING (held, or not yet told) / IN_FLIGHT / ENDED_TICKET
        self.ends = {}  # ident -> how many times it ended (Deliver, Fail, abandon)
        self.replays = {}  # ident -> Sends with replay=True
        self.sends = {}  # ident -> Sends
        self.got_refreshable = {}  # ident -> answered with a refresh-wanted status at least once
        self.recalled = {}  # ident -> recalled (aborted while in flight) at least once
        self.generations_401 = set()  # generations some ticket got a refresh-wanted answer in
        self.calls = []  # epoch of each refresh call on the wire
        self.timers = []  # epoch in which each pending RetryRefresh timer was set
        self.wake_at = None  # the last Schedule: when the driver calls wake
        self.refresh_starts = 0
        self.expired = False  # "session-expired" seen and no sign-in since
        self.signed_out = False  # signed out and no sign-in since
        self.next_ident = 0

    # -- carrying out commands --------------------------------------------------------------------

    def apply(self, commands):
        for command in commands:
            kind = command.kind
            if kind == "send":
                self._sent(command)
            elif kind in ("deliver", "fail"):
                ident = command.ticket.ident
                assert self.status[ident] != ENDED_TICKET, f"ticket {ident} got {kind} after it ended"
                self._end(ident)
            elif kind == "recall":
                self._recalled(command.ticket)
            elif kind == "start-refresh":
                self._refresh_started(command)
            elif kind == "retry-refresh":
                assert command.delay > 0
                self.timers.append(command.epoch)
            elif kind == "schedule":
                assert command.delay > 0
                self.wake_at = self.now + command.delay
            elif kind == "emit":
                if command.name == "session-expired":
                    assert not self.expired, "session-expired fired twice with no sign-in between"
                    assert not self.signed_out, "session-expired fired for a session already signed out"
                    self.expired = True
            else:
                raise AssertionError(f"unknown command {kind!r}")

    def _recalled(self, ticket):
        ident = ticket.ident
        assert ticket.recallable, f"ticket {ident} recalled but its method is not safe"
        assert self.status[ident] == IN_FLIGHT, f"ticket {ident} recalled while {self.status[ident]}"
        assert not self.recalled[ident] and self.replays[ident] == 0, f"ticket {ident} recalled after its replay"
        assert ticket.generation in self.generations_401, f"ticket {ident} recalled with no 401 in its generation"
        self.recalled[ident] = True
        self.status[ident] = WAITING

    def _refresh_started(self, command):
        epoch = command.epoch
        assert epoch == self.coordinator.epoch, f"StartRefresh for epoch {epoch}, now {self.coordinator.epoch}"
        assert epoch not in self.calls, (
            f"StartRefresh({command.attempt}, {command.reason!r}) while a refresh of epoch {epoch} is on the wire"
        )
        if command.reason == "retry":
            assert 1 < command.attempt <= self.coordinator.refresh_retries + 1, (
                f"attempt {command.attempt} with refresh_retries={self.coordinator.refresh_retries}"
            )
        else:
            assert command.attempt == 1
            assert epoch not in self.timers, f"a new round began while epoch {epoch} waits to retry"
        self.calls.append(epoch)
        self.refresh_starts += 1

    def _sent(self, command):
        ident = command.ticket.ident
        assert not self.expired, f"ticket {ident} was sent after session-expired and before a sign-in"
        assert not self.signed_out, f"ticket {ident} was sent after a sign-out and before a sign-in"
        assert self.status[ident] == WAITING, f"ticket {ident} sent while {self.status[ident]}"
        assert command.generation == self.coordinator.generation, (
            f"ticket {ident} sent with generation {command.generation}, current {self.coordinator.generation}"
        )
        assert command.ticket.generation == command.generation
        assert not self.refresh_active(), f"ticket {ident} sent while a refresh runs"
        if command.replay:
            assert self.got_refreshable[ident] or self.recalled[ident], f"ticket {ident} replayed without a 401"
            self.replays[ident] += 1
            assert self.replays[ident] <= 1, f"ticket {ident} replayed twice"
        self.sends[ident] += 1
        assert self.sends[ident] <= 2, f"ticket {ident} sent {self.sends[ident]} times"
        self.status[ident] = IN_FLIGHT

    def _end(self, ident):
        self.ends[ident] += 1
        assert self.ends[ident] == 1, f"ticket {ident} ended {self.ends[ident]} times"
        self.status[ident] = ENDED_TICKET

    # -- inputs, as session.py feeds them ---------------------------------------------------------

    def start(self, replayable=True, recallable=False, paced=True):
        self.next_ident += 1
        ticket = Ticket(self.next_ident, replayable=replayable, recallable=recallable and replayable, paced=paced)
        ident = ticket.ident
        self.tickets[ident] = ticket
        self.status[ident] = WAITING  # until a Send or Fail says otherwise: held
        self.ends[ident] = self.replays[ident] = self.sends[ident] = 0
        self.got_refreshable[ident] = self.recalled[ident] = False
        self.apply(self.coordinator.start(ticket, self.now))
        return ticket

    def answer(self, ident, status):
        wanted = status == 401
        if wanted:
            self.got_refreshable[ident] = True
            self.generations_401.add(self.tickets[ident].generation)
        self.status[ident] = WAITING  # off the wire; the commands say what comes next
        commands = self.coordinator.response(self.tickets[ident], status, self.now, refresh_wanted=wanted)
        if not wanted:
            assert commands[0].kind == "deliver" and commands[0].ticket is self.tickets[ident], commands
        self.apply(commands)

    def abandon(self, ident):
        self._end(ident)
        commands = self.coordinator.abandon(self.tickets[ident], self.now)
        for command in commands:
            assert getattr(command, "ticket", None) is not self.tickets[ident], (
                f"abandon of ticket {ident} gave it {command.kind}"
            )
        self.apply(commands)

    def finish_refresh(self, index, outcome, lifetime=None):
        epoch = self.calls.pop(index % len(self.calls))
        stale = epoch != self.coordinator.epoch
        if outcome == "success":
            commands = self.coordinator.refresh_succeeded(self.now, lifetime=lifetime, epoch=epoch)
        elif outcome == "network":
            commands = self.coordinator.refresh_failed(self.now, error="network", epoch=epoch)
        else:
            commands = self.coordinator.refresh_failed(self.now, status=outcome, error=str(outcome), epoch=epoch)
        if stale:
            assert commands == [], f"a refresh of epoch {epoch} (now {self.coordinator.epoch}) still acted"
        self.apply(commands)

    def fire_retry(self, index):
        epoch = self.timers.pop(index % len(self.timers))
        self.apply(self.coordinator.retry_refresh(self.now, epoch=epoch))

    def wake(self):
        self.apply(self.coordinator.wake(self.now))

    def sign_in(self, lifetime=None):
        self.expired = self.signed_out = False
        self.apply(self.coordinator.signed_in(self.now, lifetime=lifetime))

    def sign_out(self):
        self.signed_out = True
        commands = self.coordinator.end_session()
        assert all(command.kind == "fail" for command in commands), commands
        self.apply(commands)

    def another_tab_refreshed(self, lifetime=None):
        self.expired = self.signed_out = False
        self.apply(self.coordinator.remote_refreshed(self.now, lifetime=lifetime))

    # -- views ------------------------------------------------------------------------------------

    def refresh_active(self):
        """A refresh of the current epoch is on the wire or waiting to be retried."""
        epoch = self.coordinator.epoch
        return epoch in self.calls or epoch in self.timers

    def with_status(self, status):
        return sorted(ident for ident, value in self.status.items() if value == status)

    def check(self):
        coordinator = self.coordinator
        in_flight = self.with_status(IN_FLIGHT)
        waiting = self.with_status(WAITING)
        assert coordinator.in_flight == len(in_flight), (coordinator.in_flight, in_flight)
        assert sorted(t.ident for t in coordinator.waiting) == waiting, (coordinator.waiting, waiting)
        for ident in in_flight:
            assert self.tickets[ident].state == "in-flight"
        for ident in waiting:
            assert self.tickets[ident].state == "waiting"
        for ident, ends in self.ends.items():
            assert ends == (1 if self.status[ident] == ENDED_TICKET else 0), (ident, ends, self.status[ident])
        assert coordinator.refreshing == self.refresh_active(), (coordinator.refreshing, self.calls, self.timers)
        assert self.calls.count(coordinator.epoch) <= 1, f"two refresh calls of epoch {coordinator.epoch}"
        if self.expired:
            assert coordinator.session == ENDED
            assert not waiting and not coordinator.refreshing
        if self.signed_out:
            assert coordinator.session != LIVE and not waiting
        # No ticket waits for nothing: it waits for the refresh, or for a free slot.
        if waiting and not self.refresh_active() and coordinator.session == LIVE:
            limit = coordinator.max_in_flight
            assert all(self.tickets[ident].paced for ident in waiting), f"an unpaced ticket of {waiting} waits"
            assert limit is not None and coordinator.in_flight_paced >= limit, (
                f"tickets {waiting} wait with no refresh running and {coordinator.in_flight_paced} in flight"
            )

    def drain(self):
        """Fire every timer, finish every refresh call with success, answer every ticket with 200."""
        for _ in range(1000):
            if self.timers:
                self.fire_retry(0)
            elif self.calls:
                self.finish_refresh(0, "success")
            elif self.with_status(IN_FLIGHT):
                self.answer(self.with_status(IN_FLIGHT)[0], 200)
            else:
                break
            self.check()
        assert self.with_status(WAITING) == [], f"left waiting: {self.with_status(WAITING)}"
        assert self.with_status(IN_FLIGHT) == [], f"left in flight: {self.with_status(IN_FLIGHT)}"
        assert self.coordinator.in_flight == 0 and self.coordinator.waiting == []
        assert not self.coordinator.refreshing
        for ident, ends in self.ends.items():
            assert ends == 1, f"ticket {ident} ended {ends} times"
            assert self.tickets[ident].state == "done"


# How the refresh endpoint answers, one kind per schedule, so that some schedules spend their
# steps in long retry rounds and give-ups rather than in one quick success.
REFRESH_ENDPOINTS = {
    "healthy": ["success", "success", "success", 503],
    "flaky": ["success", 401, 503, 503, "network"],
    "down": [503, 503, "network", "network", 401, "success"],
}


class CoordinatorSchedules(RuleBasedStateMachine):
    """Random schedules of a driver: every rule is something that can happen in a browser."""

    @initialize(
        max_in_flight=st.sampled_from([None, 1, 2, 3]),
        refresh_retries=st.sampled_from([0, 1, 3]),
        leeway=st.sampled_from([0.0, 30.0, None]),
        jitter=st.sampled_from([0.0, 0.5, 0.999]),
        initial=st.integers(0, 6),
        endpoint=st.sampled_from(sorted(REFRESH_ENDPOINTS)),
    )
    def build(self, max_in_flight, refresh_retries, leeway, jitter, initial, endpoint):
        coordinator = Coordinator(
            max_in_flight=max_in_flight,
            refresh_retries=refresh_retries,
            leeway=leeway,
            random=lambda: jitter,
        )
        self.driver = Driver(coordinator)
        self.outcomes = REFRESH_ENDPOINTS[endpoint]
        for i in range(initial):  # a page usually has a few requests out when the token expires
            self.driver.start(recallable=i % 2 == 0)

    def _pick(self, status, index):
        idents = self.driver.with_status(status)
        return idents[index % len(idents)]

    @rule(
        replayable=st.sampled_from([True, True, True, False]),
        safe=st.booleans(),
        paced=st.sampled_from([True, True, False]),  # False: a request to another origin
    )
    def start(self, replayable, safe, paced):
        self.driver.start(replayable, recallable=safe, paced=paced)

    @precondition(lambda self: self.driver.with_status(IN_FLIGHT))
    @rule(index=st.integers(0, 63), status=st.sampled_from([200, 200, 401, 401, 401, 403, 500, 503]))
    def answer(self, index, status):
        self.driver.answer(self._pick(IN_FLIGHT, index), status)

    @precondition(lambda self: self.driver.with_status(IN_FLIGHT))
    @rule(index=st.integers(0, 63))
    def network_error_or_timeout(self, index):
        self.driver.abandon(self._pick(IN_FLIGHT, index))

    @precondition(lambda self: self.driver.with_status(WAITING))
    @rule(index=st.integers(0, 63))
    def time_out_while_held(self, index):
        self.driver.abandon(self._pick(WAITING, index))

    @precondition(lambda self: self.driver.calls)
    @rule(index=st.integers(0, 63), pick=st.integers(0, 63), lifetime=st.sampled_from([None, 5.0, 60.0]))
    def finish_refresh(self, index, pick, lifetime):
        self.driver.finish_refresh(pick, self.outcomes[index % len(self.outcomes)], lifetime)

    @precondition(lambda self: self.driver.timers)
    @rule(pick=st.integers(0, 63))
    def fire_retry(self, pick):
        self.driver.fire_retry(pick)

    @rule(due_only=st.booleans())
    def wake(self, due_only):
        # The Schedule timer, or (any time) the page becoming visible or going back online.
        if not due_only or (self.driver.wake_at is not None and self.driver.now >= self.driver.wake_at):
            self.driver.wake()

    @rule(really=st.sampled_from([False, False, True]), lifetime=st.sampled_from([None, 60.0]))
    def sign_in(self, really, lifetime):
        # A live session signs in again now and then; an ended one whenever this is drawn (the
        # page shows its login form).
        if really or self.driver.coordinator.session != LIVE:
            self.driver.sign_in(lifetime)

    @rule(chance=st.integers(0, 9), lifetime=st.sampled_from([None, 60.0]))
    def sign_out_or_another_tab(self, chance, lifetime):
        # Rare (5 and 6, not 0 or 9: hypothesis favours the ends of a range), since a signed-out
        # schedule has little left to test.
        if chance == 5:
            self.driver.sign_out()
        elif chance == 6:
            self.driver.another_tab_refreshed(lifetime)

    @rule(seconds=st.sampled_from([0.1, 5.0, 40.0]))
    def time_passes(self, seconds):
        self.driver.now += seconds

    @invariant()
    def invariants_hold(self):
        if hasattr(self, "driver"):
            self.driver.check()

    def teardown(self):
        if hasattr(self, "driver"):
            self.driver.drain()


CoordinatorSchedules.TestCase.settings = settings(
    max_examples=1000,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    **DETERMINISTIC,
)
test_coordinator_schedules = CoordinatorSchedules.TestCase


# -- N at once, then count ----------------------------------------------------------------------


@settings(max_examples=400, **DETERMINISTIC)
@given(
    count=st.integers(1, 40),
    order=st.randoms(use_true_random=False),
    late=st.integers(0, 10),
    max_in_flight=st.sampled_from([None, 1, 4, 16]),
)
def test_n_concurrent_401s_cause_one_refresh_and_each_is_replayed_once(count, order, late, max_in_flight):
    driver = Driver(Coordinator(max_in_flight=max_in_flight, random=lambda: 0.5))
    for _ in range(count):
        driver.start()
    # Every ticket that goes out comes back 401, in a random order, while `late` more start.
    starts_left = late
    while driver.with_status(IN_FLIGHT) or starts_left:
        in_flight = driver.with_status(IN_FLIGHT)
        if starts_left and (not in_flight or order.random() < 0.3):
            driver.start()
            starts_left -= 1
        else:
            ident = order.choice(in_flight)
            # The server rejects the old credential only: generation 0 gets 401, later ones 200.
            driver.answer(ident, 401 if driver.tickets[ident].generation == 0 else 200)
        driver.check()
        if driver.calls and order.random() < 0.2:
            driver.finish_refresh(0, "success")
            driver.check()
    driver.drain()
    stats = driver.coordinator.stats
    assert driver.refresh_starts == 1 == stats.refreshes, (driver.refresh_starts, stats.as_dict())
    assert stats.refresh_successes == 1
    replayed = sum(driver.replays.values())
    assert replayed == stats.replays
    # Only tickets sent with generation 0 were answered 401; each of them was replayed once.
    for ident in driver.tickets:
        assert driver.replays[ident] == (1 if driver.got_refreshable[ident] else 0)
    assert all(ends == 1 for ends in driver.ends.values())
