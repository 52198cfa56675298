"""Property tests: the coordinator with a model of the engine, under random interleavings.

``Engine`` below is engine.js reduced to what the coordinator relies on: the gate (open,
paused, ended), the trips (the first 401 of the current credential, a request past the due
time) that pause it on their own, the ``open`` that reopens only once the coordinator has seen
every trip (or with a newer credential), the held queue, recalls and verdicts. ``Driver`` plays
session.py: it carries out every command and lets reports reach the coordinator late, in
batches, while anything else happens (answers, refresh outcomes, retry timers, wake-ups, time
passing, sign-in, sign-out, another tab's renewal, close, request timeouts).

Checked after every step:

- the resume invariant (coordinator.py): once the coordinator has read every report, the
  engine's gate is paused only while a refresh round runs, and never holds requests when none
  does; an open gate sends with the coordinator's current generation;
- one refresh call at a time per session (epoch), at most ``refresh_retries + 1`` per round;
- every request ends exactly once; none is replayed twice; a recalled one was safe, in flight
  and of a generation that got a 401;
- nothing is sent while the session is over (after "session-expired" or a sign-out) until a
  sign-in; "session-expired" (or "no-session", on a page that never saw one) fires once per end.

At the end the driver lets everything finish (reports, refresh calls, timers, answers) and every
request must have ended: nothing waits forever. Remove the gate from any input that ends a round
and these fail. ``derandomize=True`` and ``database=None`` keep CI deterministic.
"""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from authfetch.coordinator import LIVE, OPEN, PAUSED, Coordinator

DETERMINISTIC = {"derandomize": True, "database": None, "deadline": None}
QUEUED, FLYING, HELD, DONE = "queued", "flying", "held", "done"


class Request:
    def __init__(self, ident, safe, replayable):
        self.ident, self.safe, self.replayable = ident, safe, replayable
        self.state = QUEUED
        self.generation = None
        self.replayed = False
        self.ends = 0
        self.replays_sent = 0
        self.recalled_in = None  # the generation it was recalled from, if it was


class Engine:
    """engine.js as the coordinator sees it (see its comments)."""

    def __init__(self, driver):
        self.driver = driver
        self.gate = OPEN
        self.generation = 0
        self.trip_seq = 0
        self.tripped_generation = -1
        self.due_at = None
        self.queue = []
        self.requests = {}
        self.reports = []
        self.sent_while_over = 0

    def trip(self):
        self.trip_seq += 1
        self.tripped_generation = self.generation
        if self.gate == OPEN:
            self.gate = PAUSED
        return self.trip_seq

    def submit(self, request):
        self.requests[request.ident] = request
        if self.gate == "ended":
            return self.end(request)
        if self.due_at is not None and self.gate == OPEN and self.driver.now >= self.due_at:
            self.due_at = None
            self.reports.append(("due", self.trip()))
        self.queue.append(request)
        self.pump()

    def pump(self):
        while self.gate == OPEN and self.queue:
            request = self.queue.pop(0)
            request.state = FLYING
            request.generation = self.generation
            if request.replayed:
                request.replays_sent += 1
            if self.driver.coordinator.session != LIVE:
                self.sent_while_over += 1

    def answer(self, request, refresh_wanted):
        if not refresh_wanted:
            return self.end(request)
        seq = self.trip_seq
        if not request.replayed and request.generation == self.generation:
            seq = self.trip()
        request.state = HELD
        self.reports.append(("answered", request.ident, request.generation, request.replayed, request.replayable, seq))

    def end(self, request):
        request.state = DONE
        request.ends += 1
        if request in self.queue:
            self.queue.remove(request)

    def pending(self):
        return len([r for r in self.requests.values() if r.state != DONE])

    # -- commands ---------------------------------------------------------------------------------

    def gate_command(self, state, generation, seen):
        self.generation = generation
        if state == OPEN:
            if seen >= self.trip_seq or generation > self.tripped_generation:
                self.gate = OPEN
            elif self.gate == "ended":
                self.gate = PAUSED
        else:
            self.gate = state
        self.pump()

    def verdict(self, ident, what):
        request = self.requests[ident]
        if request.state != HELD:
            return
        if what == "replay":
            request.replayed = True
            request.state = QUEUED
            self.queue.insert(0, request)
            self.pump()
        else:
            self.end(request)

    def recall(self, generation):
        for request in self.requests.values():
            if request.state == FLYING and request.safe and request.replayable and not request.replayed:
                if request.generation == generation:
                    request.recalled_in = generation
                    request.replayed = True
                    request.state = QUEUED
                    self.queue.append(request)
        self.pump()

    def fail_waiting(self):
        for request in list(self.queue):
            self.end(request)


class Driver(RuleBasedStateMachine):
    @initialize(retries=st.integers(0, 2), leeway=st.sampled_from([None, 5.0, 30.0]), out=st.integers(1, 6))
    def setup(self, retries, leeway, out):
        self.coordinator = Coordinator(refresh_retries=retries, leeway=leeway, random=lambda: 0.5)
        self.engine = Engine(self)
        self.now = 0.0
        self.next_ident = 0
        self.calls = []  # epochs of the refresh calls on the wire
        self.timers = []  # epochs of the pending RetryRefresh timers
        self.wake_at = None
        self.round_attempts = 0
        self.expired_events = 0
        self.ends_of_session = 0  # terminal refresh answers while the session was live
        self.over = False  # the server or the user ended the session, and nothing revived it
        self.generations_401 = set()
        for _ in range(out):  # every run starts with requests out, so there is something to decide
            self.submit(safe=self.next_ident % 2 == 0, replayable=True, count=1)

    # -- carrying out commands --------------------------------------------------------------------

    def apply(self, commands):
        gates = [c for c in commands if c.kind == "gate"]
        assert gates == commands[-1:], [c.kind for c in commands]
        for command in commands:
            kind = command.kind
            if kind == "gate":
                self.engine.gate_command(command.state, command.generation, command.seen)
            elif kind == "verdict":
                self.engine.verdict(command.ident, command.what)
            elif kind == "recall":
                self.engine.recall(command.generation)
            elif kind == "fail-waiting":
                self.engine.fail_waiting()
            elif kind == "start-refresh":
                assert command.epoch not in self.calls, "a second refresh call while one is out"
                self.calls.append(command.epoch)
                self.round_attempts = command.attempt
                assert self.round_attempts <= self.coordinator.refresh_retries + 1
            elif kind == "retry-refresh":
                assert command.delay > 0
                self.timers.append(command.epoch)
            elif kind == "schedule":
                self.wake_at = None if command.delay is None else self.now + command.delay
                self.engine.due_at = self.wake_at
            elif kind == "emit" and command.name in ("session-expired", "no-session"):
                self.expired_events += 1

    def deliver(self, count):
        batch, self.engine.reports = self.engine.reports[:count], self.engine.reports[count:]
        for item in batch:
            if item[0] == "due":
                self.apply(self.coordinator.due(self.now, seen=item[1]))
            else:
                _, ident, generation, replayed, replayable, seen = item
                if not replayed:
                    self.generations_401.add(generation)
                self.apply(
                    self.coordinator.answered(ident, generation, self.now, replayed=replayed, replayable=replayable, seen=seen)
                )

    def flying(self):
        return [r for r in self.engine.requests.values() if r.state == FLYING]

    # -- rules ------------------------------------------------------------------------------------

    @rule(safe=st.booleans(), replayable=st.booleans(), count=st.integers(1, 3))
    def submit(self, safe, replayable, count):
        for _ in range(count - 1):
            self.next_ident += 1
            self.engine.submit(Request(self.next_ident, safe, replayable))
        self.next_ident += 1
        self.engine.submit(Request(self.next_ident, safe, replayable))

    @precondition(lambda self: self.flying())
    @rule(data=st.data(), status=st.sampled_from([200, 401, 401, "network"]))
    def answer(self, data, status):
        request = data.draw(st.sampled_from(self.flying()))
        if status == "network":
            self.engine.end(request)
        else:
            self.engine.answer(request, status == 401)
        self.engine.pump()

    @precondition(lambda self: self.engine.reports)
    @rule(count=st.integers(1, 4))
    def reports_arrive(self, count):
        self.deliver(count)

    @precondition(lambda self: self.calls)
    @rule(outcome=st.sampled_from(["ok", "ok", 401, 503, "network", "reused"]))
    def refresh_finishes(self, outcome):
        epoch = self.calls.pop(0)
        waiting = self.engine.pending()
        if outcome in (401, "reused") and epoch == self.coordinator.epoch:  # the server said no
            if self.coordinator.session == LIVE:
                self.ends_of_session += 1
            self.over = True
        if outcome == "ok":
            self.apply(self.coordinator.refresh_succeeded(self.now, lifetime=20, epoch=epoch))
        elif outcome == "network":
            self.apply(self.coordinator.refresh_failed(self.now, error="reset", epoch=epoch, waiting=waiting))
        elif outcome == "reused":
            self.apply(self.coordinator.refresh_failed(self.now, status=409, definitive=True, epoch=epoch, waiting=waiting))
        else:
            self.apply(self.coordinator.refresh_failed(self.now, status=outcome, epoch=epoch, waiting=waiting))

    @precondition(lambda self: self.timers)
    @rule()
    def retry_timer_fires(self):
        epoch = self.timers.pop(0)
        self.apply(self.coordinator.retry_refresh(self.now, epoch=epoch, waiting=self.engine.pending()))

    # What happens around the requests comes through one rule, so the request rules above, each
    # its own rule, are drawn far more often (hypothesis draws an enabled rule uniformly).
    # Time passes without the renewal timer firing (a background tab's timers sleep), so a
    # request can come after the due time and trip it; the timer fires on its own turn.
    @rule(what=st.sampled_from(["time", "time", "time", "timer", "wake", "sign-in", "sign-in-lifetime", "sign-in-lifetime",
                                "sign-out", "another-tab", "close"]))
    def something_else_happens(self, what):
        c = self.coordinator
        if what == "time":
            self.now += 6.0
        elif what == "timer":
            if self.wake_at is not None and self.now >= self.wake_at:
                self.wake_at = None
                self.apply(c.timer(self.now))  # what the session calls when its timer fires
        elif what == "wake":
            self.apply(c.wake(self.now))
        elif what.startswith("sign-in"):
            self.over = False
            self.apply(c.signed_in(self.now, lifetime=20.0 if what == "sign-in-lifetime" else None))
        elif what == "sign-out":
            self.over = True
            self.apply(c.end_session())
        elif what == "another-tab":
            self.over = False
            self.apply(c.remote_refreshed(self.now, lifetime=20))
        else:
            self.apply(c.close())

    @precondition(lambda self: [r for r in self.engine.requests.values() if r.state in (QUEUED, HELD)])
    @rule(data=st.data())
    def a_waiting_request_times_out(self, data):
        waiting = [r for r in self.engine.requests.values() if r.state in (QUEUED, HELD)]
        self.engine.end(data.draw(st.sampled_from(waiting)))

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def the_gate_is_paused_only_for_a_refresh_round(self):
        if self.engine.reports:
            return  # a trip may be on its way to the coordinator
        c = self.coordinator
        if self.engine.gate == PAUSED:
            assert c.refreshing, "the engine stays paused with no refresh round to reopen it"
        if not c.refreshing and c.session == LIVE:
            assert not self.engine.queue, "requests held with no refresh round running"
        if self.engine.gate == OPEN:
            assert self.engine.generation == c.generation

    @invariant()
    def requests_end_once_and_replay_once(self):
        for request in self.engine.requests.values():
            assert request.ends <= 1, f"request {request.ident} ended {request.ends} times"
            assert request.replays_sent <= 1, f"request {request.ident} replayed {request.replays_sent} times"
            if request.recalled_in is not None:
                assert request.safe and request.replayable and request.recalled_in in self.generations_401

    @invariant()
    def nothing_is_sent_while_the_session_is_over(self):
        assert self.engine.sent_while_over == 0
        if self.over:
            assert self.coordinator.session != LIVE and self.engine.gate == "ended"
        assert self.expired_events == self.ends_of_session, "session-expired must fire once per end"

    def teardown(self):
        """Let everything finish: every request must end."""
        if not hasattr(self, "engine"):
            return
        for _ in range(200):
            if self.engine.reports:
                self.deliver(len(self.engine.reports))
            elif self.calls:
                self.apply(self.coordinator.refresh_succeeded(self.now, epoch=self.calls.pop(0)))
            elif self.timers:
                self.apply(self.coordinator.retry_refresh(self.now, epoch=self.timers.pop(0), waiting=self.engine.pending()))
            elif self.flying():
                for request in self.flying():
                    self.engine.answer(request, False)
                self.engine.pump()
            else:
                break
        stuck = [r.ident for r in self.engine.requests.values() if r.state != DONE]
        assert not stuck, f"requests never ended: {stuck} (gate {self.engine.gate}, refreshing {self.coordinator.refreshing})"


TestCoordinatorWithTheEngine = Driver.TestCase  # (each read of Driver.TestCase makes a new class)
TestCoordinatorWithTheEngine.settings = settings(
    max_examples=400, stateful_step_count=50, suppress_health_check=[HealthCheck.too_slow], **DETERMINISTIC
)
