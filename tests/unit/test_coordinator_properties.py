"""Property tests: the coordinator with the real engine.js, under random interleavings.

The engine is the one that ships (frontend/authfetch/engine.js, run in Node.js and moved one
step at a time: tests/support/engine_host.py). ``Driver`` plays session.py around it: it
carries out every command (the same ``for_engine`` encoding), lets reports reach the
coordinator late and in batches, and meanwhile anything else happens: answers (200, 401, the
network), refresh answers of every shape a server can send (read through inputs.py, as the
session reads them: tokens no header can carry, lifetimes of 1e400, HTML, 5 MB), the cross-tab
lock and its marker (malformed ones too), other tabs' messages (of the wrong shape too), retry
timers, time passing, wake-ups, sign-in, sign-out, close, request timeouts and cancellations,
and faults (a report no one could decide on, a refresh task that raised).

Checked after every step:

- the resume invariant (coordinator.py): once the coordinator has read every report, the
  engine's gate is paused only while a refresh round runs, and holds no request when none
  does; an open gate sends with the coordinator's generation;
- the engine carries out every command (apply() never says it could not);
- one refresh call at a time per epoch, at most ``refresh_retries + 1`` per round;
- no request is sent more than twice (once, and one replay);
- nothing is sent while the session is over (after "session-expired" or a sign-out) until a
  sign-in; "session-expired" (or "no-session") fires once per end.

At the end the driver lets everything finish (reports, locks, refresh calls, timers, answers)
and the engine must hold nothing: every request settled, nothing waits for ever.

Each interleaving is a string of bytes that hypothesis draws: the driver reads its choices
from it (which rule, which call, which answer), so hypothesis shrinks a failure to a short
string, and so to a short story, which the failure prints step by step. (A rule-based state
machine read the same choices at about ten times the cost per step; at 10,000 interleavings
per run that was most of the suite's time.) ``derandomize=True`` and ``database=None`` keep CI
deterministic; AUTHFETCH_FUZZ_EXAMPLES=100000 runs a longer search.
"""

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authfetch import inputs
from authfetch.config import COORDINATED, CREDENTIALED, ONCE, RECALLABLE
from authfetch.coordinator import LIVE, Coordinator
from authfetch.session import for_engine
from tests.support.engine_host import EngineHost

EXAMPLES = int(os.environ.get("AUTHFETCH_FUZZ_EXAMPLES", "10000"))
STEPS = 30  # rules per interleaving at most (then everything is let finish)
PROFILE = 1
ORIGIN = "https://app.test"
REFRESH = 1_000_000  # refresh calls are numbered from here, requests from 1
SETTINGS = {"maxInFlight": None, "pacedOrigin": ORIGIN}

GOOD = json.dumps({"data": {"accessToken": "tok-new", "expiresIn": 20}})
# Refresh answers as a server may send them: (status, body text, or None for over the limit).
ANSWERS = [
    (200, GOOD),
    (200, GOOD),
    (200, json.dumps({"data": {"accessToken": "tok-x"}})),
    (200, '{"data": {"accessToken": "tok-y", "expiresIn": 1e400}}'),
    (200, json.dumps({"data": {"accessToken": "tok-z", "expiresIn": "x"}})),
    (200, json.dumps({"data": {"accessToken": "bad\ntoken", "expiresIn": 20}})),
    (200, json.dumps({"data": {"accessToken": "t\u20ac", "expiresIn": 20}})),
    (200, json.dumps({"data": {}})),
    (200, "<!doctype html><title>app</title>"),
    (200, "[1, 2]"),
    (200, ""),
    (200, None),
    (401, json.dumps({"message": "no"})),
    (401, json.dumps({"message": "refresh_token_reused"})),
    (403, "<html>forbidden</html>"),
    (409, json.dumps({"message": "refresh_token_reused"})),
    (503, json.dumps({"message": "busy"})),
    (503, "not json"),
    (429, None),
]
RETRY_AFTER = [None, "1", "1e400", "-5", "soon"]
MARKERS = [None, None, '{"n": 7, "lifetime": 20}', '{"n": 8}', '{"n": 9, "lifetime": "x"}',
           '{"n": 10, "lifetime": 1e400}', '{"n": "11"}', "[1]", "not json"]
MESSAGES = [
    {"type": "refreshed", "marker": {"n": 21, "lifetime": 20}, "tab": "t"},
    {"type": "refreshed", "marker": {"n": 22}, "token": "tok-remote"},
    {"type": "signed-in", "marker": {"n": 23, "lifetime": 20}, "token": "tok-in"},
    {"type": "session-expired", "tab": "t"},
    {"type": "signed-out", "tab": "t"},
    {"type": "refreshed", "marker": {"n": 1, "lifetime": "x"}},
    {"type": "refreshed", "marker": "x"},
    {"type": "signed-in", "marker": {"n": 1}, "token": "bad\ntoken"},
    {"type": 5},
    [1, 2],
]
DETERMINISTIC = {"derandomize": True, "database": None, "deadline": None}


def text_of(message):
    return json.dumps(message).replace("Infinity", "1e400")


class Choices:
    """The interleaving's choices, read one byte at a time (0 once they run out)."""

    def __init__(self, data):
        self.data = data
        self.at = 0

    def below(self, n):
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value % n

    def pick(self, options):
        return options[self.below(len(options))]

    @property
    def left(self):
        return self.at < len(self.data)


class Driver:
    def __init__(self, choices):
        self.choose = choices
        self.story = []  # the rules taken, with what they drew: printed when a check fails

    def run(self):
        pick = self.choose.pick
        self.setup(pick([0, 1, 2]), pick([None, 5.0, 30.0]), pick([False, True]), pick([False, True]), 1 + self.choose.below(5))
        for _ in range(STEPS):
            if not self.choose.left:
                break
            enabled = [rule for rule, ready, weight in RULES if ready(self) for _ in range(weight)]
            rule = self.choose.pick(enabled)
            rule(self)
            self.the_gate_is_paused_only_for_a_refresh_round()
            self.nothing_is_sent_while_the_session_is_over()
        self.teardown()

    def told(self, *what):
        self.story.append(" ".join(str(part) for part in what))

    def setup(self, retries, leeway, bearer, cross_tab, out):
        self.told("setup", f"retries={retries} leeway={leeway} bearer={bearer} cross_tab={cross_tab} out={out}")
        self.host = EngineHost.shared()
        self.host.new(SETTINGS)
        self.bearer = bearer
        self.coordinator = Coordinator(
            refresh_retries=retries, leeway=leeway, random=lambda: 0.5, requires_token=bearer, cross_tab=cross_tab
        )
        self.now = 0.0
        self.next_ident = 0
        self.next_refresh = REFRESH
        self.requests = {}  # ident -> how often it was sent
        self.unsettled = set()  # what the engine holds, after the last step
        self.gate_token = None  # the token of the last gate command
        self.open_calls = {}  # host call number -> ident (answered or aborted calls may linger)
        self.engine = {}  # the engine's state after the last step
        self.reports = []  # items reported, not yet read by the coordinator
        self.locks = []  # epochs waiting for the cross-tab lock
        self.on_the_wire = {}  # refresh request ident -> epoch of its call
        self.retry_timers = []
        self.wake_at = None
        self.known_marker = None
        self.expired_events = 0
        self.ends_of_session = 0
        self.over = False  # the session ended, and nothing revived it yet
        self.closed = False
        self.step(["profile", PROFILE, json.dumps({"refreshOn": [401], "headers": [], "bearer": bearer})])
        for _ in range(out):  # every run starts with requests out, so there is something to decide
            self.send(safe=self.next_ident % 2 == 0, replayable=True, count=1, timeout=None)

    # -- the engine, one step at a time -----------------------------------------------------------

    def step(self, *operations):
        answer = self.host.step(*operations)
        assert all(said == "" for said in answer["applied"]), f"the engine could not carry out: {answer['applied']}"
        for number, url, method, authorization in answer["calls"]:
            ident = int(url.rsplit("/r", 1)[1])
            self.open_calls[number] = ident
            expected = "Bearer " + self.gate_token if self.gate_token else None
            assert authorization == expected, f"sent with {authorization!r}, not the credential commanded ({expected!r})"
            if ident < REFRESH:
                self.requests[ident] += 1
                assert not self.over, f"request {ident} was sent while the session is over"
                assert self.requests[ident] <= 2, f"request {ident} was sent {self.requests[ident]} times"
        for text in answer["batches"]:
            self.reports += json.loads(text)
        self.engine = answer["state"]
        self.unsettled = {ident for ident, _, _, _ in answer["requests"]}
        for ident, outcome in answer["settled"]:
            if ident in self.on_the_wire and isinstance(outcome, str):  # the refresh call failed
                epoch = self.on_the_wire.pop(ident)
                self.apply(self.coordinator.refresh_failed(self.now, error=outcome, epoch=epoch, waiting=self.waiting()))
        return answer

    def apply(self, commands):
        """Carry the commands out as session.py does: the engine's in order, a refresh call
        sent through the engine where StartRefresh stands, the rest noted for later rules."""
        gates = [c for c in commands if c.kind == "gate"]
        assert gates == commands[-1:], [c.kind for c in commands]
        operations, group = [], []
        for command in commands:
            kind = command.kind
            encoded = for_engine(command)
            if encoded is not None:
                group.append(encoded)
                if kind == "gate":
                    self.gate_token = command.token
                elif kind == "schedule":
                    self.wake_at = None if command.delay is None else self.now + command.delay
                continue
            if kind == "take-lock":
                self.locks.append(command.epoch)
            elif kind == "start-refresh":
                assert command.epoch not in self.on_the_wire.values(), "a second refresh call of one epoch"
                assert command.attempt <= self.coordinator.refresh_retries + 1
                if group:
                    operations.append(["apply", json.dumps(group, allow_nan=False)])
                    group = []
                self.next_refresh += 1
                self.on_the_wire[self.next_refresh] = command.epoch
                url = f"{ORIGIN}/refresh/r{self.next_refresh}"
                operations.append(["submit", self.next_refresh, PROFILE, url, "POST", None, CREDENTIALED, None])
            elif kind == "retry-refresh":
                assert command.delay > 0
                self.retry_timers.append(command.epoch)
            elif kind == "announce" and command.what in ("refreshed", "signed-in"):
                self.known_marker = {"n": 100 + self.coordinator.generation, "lifetime": command.lifetime, "tab": "me"}
            elif kind == "emit" and command.name in ("session-expired", "no-session"):
                self.expired_events += 1
        if group:
            operations.append(["apply", json.dumps(group, allow_nan=False)])  # strict JSON, as the engine reads it
        self.step(*operations)

    def waiting(self):
        """What the engine's pending() says: the coordinated requests not yet settled."""
        return len([ident for ident in self.unsettled if ident < REFRESH])

    def deliver(self, count):
        batch, self.reports = self.reports[:count], self.reports[count:]
        for item in batch:
            if item[0] == "due":
                self.apply(self.coordinator.due(self.now, seen=item[1]))
            elif item[0] == "answered":
                _, ident, generation, replayed, replayable, seen = item
                self.apply(
                    self.coordinator.answered(ident, generation, self.now, replayed=replayed, replayable=replayable, seen=seen)
                )
            elif item[0] == "authenticated":
                self.apply(self.coordinator.authenticated(item[1], self.now))

    def refresh_calls_out(self):
        return sorted(number for number, ident in self.open_calls.items() if ident in self.on_the_wire)

    def end_by_the_server(self, epoch):
        if epoch == self.coordinator.epoch:
            if self.coordinator.session == LIVE:
                self.ends_of_session += 1
            self.over = True

    # -- rules: requests and their answers --------------------------------------------------------

    def submit(self):
        pick = self.choose.pick
        self.send(pick([False, True]), pick([True, True, False]), pick([1, 2, 3]), pick([None, None, 500]))

    def send(self, safe, replayable, count, timeout):
        self.told("submit", f"safe={safe} replayable={replayable} count={count} timeout={timeout}")
        operations = []
        for _ in range(count):
            self.next_ident += 1
            ident = self.next_ident
            self.requests[ident] = 0
            flags = CREDENTIALED | COORDINATED
            if safe and replayable:
                flags |= RECALLABLE
            if not replayable:
                flags |= ONCE
            method, body = ("GET", None) if safe else ("POST", "x")
            operations.append(["submit", ident, PROFILE, f"{ORIGIN}/api/r{ident}", method, body, flags, timeout])
        self.step(*operations)

    def request_calls(self):
        return sorted(number for number, ident in self.open_calls.items() if ident < REFRESH)

    def an_answer_comes(self):
        """An answer to a request's call: its latest send, or a late one to a recalled send."""
        number = self.choose.pick(self.request_calls())
        status = self.choose.pick([200, 401, 401, "network"])
        self.told("answer", f"call {number} (request {self.open_calls[number]}):", status)
        del self.open_calls[number]
        self.step(["fail", number, "reset"] if status == "network" else ["answer", number, status, "{}"])

    def reports_arrive(self):
        count = 1 + self.choose.below(4)
        self.told("reports arrive:", self.reports[:count])
        self.deliver(count)

    def a_report_no_one_could_decide_on(self):
        """session.py's fault path: the batch is read for what it holds, then faulted."""
        batch, self.reports = self.reports[:2], self.reports[2:]
        self.told("reports no one could decide on:", batch)
        held = [item[1] for item in batch if item[0] == "answered"]
        seen = max([item[5] for item in batch if item[0] == "answered"] + [item[1] for item in batch if item[0] == "due"] + [0])
        self.apply(self.coordinator.faulted(self.now, error="injected", held=held, seen=seen))

    def unsettled_requests(self):
        return sorted(ident for ident in self.unsettled if ident < REFRESH)

    def a_request_is_cancelled_or_times_out(self):
        if self.choose.pick(["cancel", "time"]) == "cancel":
            ident = self.choose.pick(self.unsettled_requests())
            self.told("cancel request", ident)
            self.step(["cancel", ident])
        else:
            self.told("600 ms pass (request timeouts)")
            self.now += 0.6
            self.step(["advance", 600])  # past any request's 500 ms timeout

    # -- rules: the refresh -----------------------------------------------------------------------

    def the_lock_is_granted_or_not(self):
        marker, granted = self.choose.pick(MARKERS), self.choose.pick([True, True, False])
        epoch = self.locks.pop(0)
        self.told("lock", "granted" if granted else "not granted", "for epoch", epoch, "marker", marker)
        if not granted:
            self.apply(self.coordinator.lock_failed(self.now, epoch=epoch, error="not granted", waiting=self.waiting()))
            return
        found = inputs.marker(marker)
        renewed = found is not None and found != self.known_marker
        if renewed:
            self.known_marker = found
        self.apply(self.coordinator.lock_acquired(self.now, epoch=epoch, renewed_elsewhere=renewed,
                                                  lifetime=found["lifetime"] if renewed else None))

    def the_refresh_call_is_answered(self):
        """Its body as the session would read it: the text, or None beyond the limit."""
        number = self.choose.pick(self.refresh_calls_out())
        answer, retry_after = self.choose.pick(ANSWERS), self.choose.pick(RETRY_AFTER)
        ident = self.open_calls.pop(number)
        epoch = self.on_the_wire.pop(ident)
        status, text = answer
        self.told("refresh call", ident, "of epoch", epoch, "answered", status, repr(text)[:60], "retry-after", retry_after)
        self.step(["answer", number, status, text or ""])
        parsed = inputs.refresh_answer(status, text, content_type="text/html" if text and "<" in text else None,
                                       retry_after_text=retry_after)
        if status in (400, 401, 403) or parsed.reused:
            self.end_by_the_server(epoch)
        self.apply(self.coordinator.refresh_answered(self.now, parsed, epoch=epoch, waiting=self.waiting(), seen=True))

    def the_refresh_call_fails_or_its_task_raises(self):
        how = self.choose.pick(["network", "raised"])
        number = self.refresh_calls_out()[0]
        self.told("refresh call", self.open_calls[number], how)
        if how == "network":  # the engine settles it as a failure; step() tells the coordinator
            self.step(["fail", number, "reset"])
            return
        # session.py's _call: whatever the way raises is faulted; its answer comes to nothing
        epoch = self.on_the_wire.pop(self.open_calls[number])
        self.apply(self.coordinator.faulted(self.now, error="MemoryError (injected)", epoch=epoch))

    def a_retry_timer_fires(self):
        epoch = self.retry_timers.pop(0)
        self.told("retry timer of epoch", epoch)
        self.apply(self.coordinator.retry_refresh(self.now, epoch=epoch, waiting=self.waiting()))

    # -- rules: everything around the requests ------------------------------------------------------

    # An enabled rule is drawn uniformly, so what happens around the requests comes through one
    # rule, and the request rules are drawn far more often. Time passes without the renewal
    # timer firing (a background tab's timers sleep), so a request can trip the due time.
    def something_else_happens(self):
        what = self.choose.pick(["time", "time", "timer", "wake", "sign-in", "sign-in-lifetime", "sign-in-bad",
                                 "sign-out", "message", "message", "close"])
        message = self.choose.pick(MESSAGES) if what == "message" else None
        self.told(what, message if message is not None else "")
        c = self.coordinator
        if what == "time":
            self.now += 6.0
            self.step(["advance", 6000])
        elif what == "timer":
            if self.wake_at is not None and self.now >= self.wake_at:
                self.wake_at = None
                self.apply(c.timer(self.now))
        elif what == "wake":
            self.apply(c.wake(self.now))
        elif what.startswith("sign-in"):
            body = {"sign-in": {"data": {"accessToken": "tok-s"}}, "sign-in-lifetime": {"data": {"accessToken": "tok-s", "expiresIn": 20}},
                    "sign-in-bad": {"data": {"accessToken": "bad\ntoken", "expiresIn": 1e400}}}[what]
            token, lifetime = inputs.sign_in_answer(text_of(body), "data.accessToken")
            self.over = False
            self.apply(c.signed_in(self.now, token=token, lifetime=lifetime))
        elif what == "sign-out":
            self.over = True
            self.apply(c.end_session())
        elif what == "message":
            found = inputs.message(text_of(message))
            if found is None:
                return  # of the wrong shape: ignored at the edge
            kind, marker, token, tab = found
            fresh = marker is None or marker != self.known_marker
            if marker is not None:
                self.known_marker = marker
            if kind in ("session-expired", "signed-out"):
                if c.session == LIVE:
                    self.ends_of_session += 1
                self.over = True
            elif not (self.bearer and not token) and (kind == "signed-in" or fresh):
                self.over = False
            self.apply(c.remote(self.now, kind, token=token, lifetime=marker["lifetime"] if marker else None, tab=tab, fresh=fresh))
        else:
            self.closed = True
            self.apply(c.close(self.now))

    # -- invariants -------------------------------------------------------------------------------

    def the_gate_is_paused_only_for_a_refresh_round(self):
        if self.reports or not self.engine:
            return  # a trip may be on its way to the coordinator
        c = self.coordinator
        if self.engine["gate"] == "paused":
            assert c.refreshing, f"the engine stays paused with no refresh round to reopen it: {self.engine}"
        if not c.refreshing and c.session == LIVE:
            assert self.engine["queued"] == 0, f"requests held with no refresh round running: {self.engine}"
        if self.engine["gate"] == "open":
            assert self.engine["generation"] == c.generation

    def nothing_is_sent_while_the_session_is_over(self):
        if self.over and not self.reports:
            assert self.coordinator.session != LIVE and self.engine["gate"] == "ended", (self.engine, self.coordinator.session)
        assert self.expired_events == self.ends_of_session, "session-expired must fire once per end"

    def teardown(self):
        """Let everything finish: the engine must hold nothing at the end."""
        self.told("-- everything is let finish")
        for _ in range(300):
            if self.reports:
                self.deliver(len(self.reports))
            elif self.locks:
                self.apply(self.coordinator.lock_acquired(self.now, epoch=self.locks.pop(0)))
            elif self.refresh_calls_out():
                number = self.refresh_calls_out()[0]
                epoch = self.on_the_wire.pop(self.open_calls.pop(number))
                self.step(["answer", number, 200, GOOD])
                self.apply(self.coordinator.refresh_answered(self.now, inputs.refresh_answer(200, GOOD), epoch=epoch))
            elif self.retry_timers:
                self.apply(self.coordinator.retry_refresh(self.now, epoch=self.retry_timers.pop(0), waiting=self.waiting()))
            elif self.open_calls:
                numbers, self.open_calls = sorted(self.open_calls), {}
                self.step(*[["answer", number, 200, "{}"] for number in numbers])
            elif self.unsettled:
                self.now += 0.6
                self.step(["advance", 600])  # a timeout, if any is left, and nothing else can come
                if not (self.reports or self.open_calls):
                    break
            else:
                break
        assert not self.unsettled, (
            f"requests never settled: {sorted(self.unsettled)} (engine {self.engine}, refreshing "
            f"{self.coordinator.refreshing}, session {self.coordinator.session})"
        )


# (rule, when it can be taken, weight): the refresh's own steps weigh more, so that rounds run
# their course (retries, locks, answers of every shape) more often than requests pile up.
RULES = [
    (Driver.submit, lambda d: True, 1),
    (Driver.an_answer_comes, lambda d: d.request_calls(), 2),
    (Driver.reports_arrive, lambda d: d.reports, 2),
    (Driver.a_report_no_one_could_decide_on, lambda d: d.reports, 1),
    (Driver.a_request_is_cancelled_or_times_out, lambda d: d.unsettled_requests(), 1),
    (Driver.the_lock_is_granted_or_not, lambda d: d.locks, 3),
    (Driver.the_refresh_call_is_answered, lambda d: d.refresh_calls_out(), 4),
    (Driver.the_refresh_call_fails_or_its_task_raises, lambda d: d.refresh_calls_out(), 1),
    (Driver.a_retry_timer_fires, lambda d: d.retry_timers, 3),
    (Driver.something_else_happens, lambda d: True, 1),
]


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), **DETERMINISTIC)
@given(st.binary(min_size=1, max_size=8 * STEPS))
def test_the_coordinator_and_the_engine_settle_every_request(choices):
    driver = Driver(Choices(choices))
    try:
        driver.run()
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n\nthe story:\n  " + "\n  ".join(driver.story)) from None
