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

- the resume invariant (coordinator.py): a refresh round runs only while the session is live;
  once the coordinator has read every report, the engine's gate is paused only while a round
  runs and holds no request when none does (beyond what waits for a connection slot); an open
  gate sends with the coordinator's generation and the token it commanded;
- the engine carries out every command (apply() never says it could not);
- one refresh call on the wire at a time, of whatever epoch (two would present one refresh
  token twice), at most ``refresh_retries + 1`` per round, none while the session is over;
- no request is sent more than twice (once, and one replay);
- where the refresh token travels in the body (Simple JWT, OAuth 2.0 shapes): a refresh call
  always carries one, and never one a rotation the coordinator took has spent;
- as the coordinator's own events tell it (not as its code would): nothing is sent from
  "session-expired" (or "no-session", or this tab's sign-out) until a sign-in or a "refresh",
  and "session-expired" fires once per end.

The cross-tab marker and messages go through the real tabs.py (over the fake browser's
storage); the refresh answers through inputs.py; the engine is engine.js.

At the end the driver lets everything finish (reports, locks, refresh calls, timers, answers)
and the engine must hold nothing: every request settled, nothing waits for ever.

Each interleaving is a string of bytes from a seed that hypothesis draws: the driver reads its
choices from it (which rule, which call, which answer); a failure is shrunk to fewer choices,
so to a short story, which it prints step by step. (A rule-based state machine read the same
choices at about ten times the cost per step; hypothesis's own byte strings lean to small
values, and missed an interleaving that uniform bytes find.) ``derandomize=True`` and
``database=None`` keep CI deterministic; AUTHFETCH_FUZZ_EXAMPLES=100000 runs a longer search.
"""

import json
import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authfetch import inputs
from authfetch.config import COORDINATED, CREDENTIALED, ONCE, PACED, RECALLABLE
from authfetch.coordinator import LIVE, Coordinator
from authfetch.servers import Server
from authfetch.session import for_engine
from authfetch.tabs import TabSync
from authfetch.testing import FakeBrowser, FakeTransport
from tests.support.engine_host import EngineHost

EXAMPLES = int(os.environ.get("AUTHFETCH_FUZZ_EXAMPLES", "10000"))
STEPS = 30  # rules per interleaving at most (then everything is let finish)
PROFILE = 1
ORIGIN = "https://app.test"
REFRESH = 1_000_000  # refresh calls are numbered from here, requests from 1
LIMITS = [None, None, 2]  # max_in_flight: none, or two paced requests in the browser's hands

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
# In body mode the answers are read as a server that rotates "data.refresh" and says "spent".
BODY_SERVER = Server(refresh_token="body", access_field="data.accessToken", rotated_field="data.refresh",
                     ended_words=("spent", "refresh_token_reused"), no_session_words=("none",))
BODY_ANSWERS = [
    (200, json.dumps({"data": {"accessToken": "tok-r", "refresh": "rot-1", "expiresIn": 20}})),
    (200, json.dumps({"data": {"accessToken": "tok-r", "refresh": "rot-2"}})),
    (200, json.dumps({"data": {"accessToken": "tok-r", "refresh": "odd\nrefresh"}})),
    (200, json.dumps({"data": {"accessToken": "bad\ntoken", "refresh": "rot-3"}})),  # rotated, but no usable access token
    (200, json.dumps({"data": {"refresh": "rot-4"}})),
    (200, json.dumps({"data": {"accessToken": "tok-r", "refresh": ["rot-5"]}})),
    (401, json.dumps({"code": "spent"})),
    (401, json.dumps({"detail": "none"})),
]
RETRY_AFTER = [None, "1", "1e400", "-5", "soon"]
MARKERS = [None, None, '{"n": 7, "lifetime": 20, "tab": "t"}', '{"n": 8}', '{"n": 9, "lifetime": "x"}',
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
    # tabs sharing a body-mode refresh token
    {"type": "refreshed", "marker": {"n": 24}, "token": "tok-remote", "refresh": "rt-remote"},
    {"type": "signed-in", "marker": {"n": 25}, "token": "tok-in", "refresh": "rt-in"},
    {"type": "share", "marker": {"n": 26}, "token": "tok-share", "refresh": "rt-share"},
    {"type": "share", "token": "tok-share", "refresh": "bad\nrefresh"},
    {"type": "ask"},
    {"type": "renewing"},
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
        self.setup(pick([0, 1, 2]), pick([None, 5.0, 30.0]), pick([False, True]), pick([False, True]), pick(LIMITS),
                   1 + self.choose.below(5), pick([False, False, True]), pick([None, "rt-0"]))
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

    def setup(self, retries, leeway, bearer, cross_tab, limit, out, body, restored):
        body = body and bearer  # a refresh token in the body: the access token goes in Authorization
        self.told("setup", f"retries={retries} leeway={leeway} bearer={bearer} cross_tab={cross_tab} limit={limit} out={out} "
                           f"body={body} restored={restored if body else None}")
        self.host = EngineHost.shared()
        self.host.new({"maxInFlight": limit, "pacedOrigin": ORIGIN})
        self.bearer = bearer
        self.body = body
        self.limit = limit
        self.coordinator = Coordinator(
            refresh_retries=retries, leeway=leeway, random=lambda: 0.5, requires_token=bearer, cross_tab=cross_tab,
            carries_refresh=body, refresh_token=restored,
        )
        self.spent = set()  # refresh tokens a rotation the coordinator took has replaced
        self.kept = self.coordinator.refresh_token  # the refresh token as the Keep commands tell it
        self.sign_ins = 0
        self.tab_waits = []  # (epoch, wait) of WaitForTabs not run out yet
        self.browser = FakeBrowser()  # its storage holds the marker tabs.py reads and writes
        self.tabs = TabSync(FakeTransport(None, browser=self.browser), "authfetch:" + ORIGIN + "/refresh",
                            lock_timeout=10, share_token=body, on_message=self.message_came)
        self.now = 0.0
        self.next_ident = 0
        self.next_refresh = REFRESH
        self.requests = {}  # ident -> how often it was sent
        self.unsettled = {}  # ident -> its state in the engine, after the last step
        self.gate_token = None  # the token of the last gate command
        self.open_calls = {}  # host call number -> ident (answered or aborted calls may linger)
        self.engine = {}  # the engine's state after the last step
        self.reports = []  # items reported, not yet read by the coordinator
        self.locks = []  # epochs waiting for the cross-tab lock
        self.on_the_wire = {}  # refresh request ident -> (epoch, call) of a call sent, not yet told
        self.tasks = set()  # the calls whose task runs (session.py's _calls): till after their outcome
        self.retry_timers = []
        self.wake_at = None
        self.over = False  # as the events tell it: the session ended, and nothing revived it yet
        self.step(["profile", PROFILE, json.dumps({"refreshOn": [401], "headers": [], "bearer": bearer})])
        for _ in range(out):  # every run starts with requests out, so there is something to decide
            self.send(safe=self.next_ident % 2 == 0, replayable=True, count=1, timeout=None, paced=True)

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
        self.unsettled = {ident: state for ident, state, _, _ in answer["requests"]}
        for ident, outcome in answer["settled"]:
            if ident in self.on_the_wire and isinstance(outcome, str):  # the refresh call failed
                self.tell(ident, "failed", outcome)
        return answer

    def apply(self, commands):
        """Carry the commands out as session.py does: the engine's in order, a refresh call
        sent through the engine where StartRefresh stands, the rest noted for later rules."""
        c = self.coordinator
        for command in commands:
            if command.kind == "keep" and self.kept is not None and command.refresh_token != self.kept:
                self.spent.add(self.kept)  # replaced (rotated here or elsewhere, or a new sign-in): never again
            if command.kind == "keep":
                self.kept = command.refresh_token
        gates = [command for command in commands if command.kind == "gate"]
        assert gates == commands[-1:], [command.kind for command in commands]
        assert not c.refreshing or c.session == LIVE, "a refresh round runs for a session that is over"
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
            if kind in ("take-lock", "start-refresh", "retry-refresh"):
                assert c.session == LIVE, f"{kind} for a session that is over"
            if kind == "take-lock":
                self.locks.append(command.epoch)
            elif kind == "start-refresh":
                assert not self.on_the_wire, f"a second refresh call while {self.on_the_wire} is out"
                assert command.attempt <= c.refresh_retries + 1
                if group:
                    operations.append(["apply", json.dumps(group, allow_nan=False)])
                    group = []
                if self.body:
                    assert command.refresh_token is not None, "a refresh call with no refresh token to send"
                    assert command.refresh_token not in self.spent, f"the spent refresh token {command.refresh_token!r} sent again"
                self.next_refresh += 1
                self.on_the_wire[self.next_refresh] = (command.epoch, command.call, command.refresh_token)
                self.tasks.add(command.call)
                url = f"{ORIGIN}/refresh/r{self.next_refresh}"
                operations.append(["submit", self.next_refresh, PROFILE, url, "POST", None, CREDENTIALED, None])
            elif kind == "retry-refresh":
                assert command.delay > 0
                self.retry_timers.append(command.epoch)
            elif kind == "announce":
                self.tabs.announce(command.what, command.lifetime, command.token, command.refresh_token)
            elif kind == "wait-for-tabs":
                assert command.delay > 0
                self.tab_waits.append((command.epoch, command.wait))
            elif kind == "known":
                self.tabs.known = command.marker
            elif kind == "emit":
                self.event(command.name)
        if group:
            operations.append(["apply", json.dumps(group, allow_nan=False)])  # strict JSON, as the engine reads it
        self.step(*operations)

    def event(self, name):
        if name in ("session-expired", "no-session"):
            assert not self.over, f"{name} fired twice for one end"
            self.over = True
        elif name == "refresh":
            self.over = False

    def waiting(self):
        """What the engine's pending() says: the coordinated requests not yet settled."""
        return len([ident for ident in self.unsettled if ident < REFRESH])

    def calls_out(self):
        return sorted(self.tasks)

    def tell(self, ident, how, outcome):
        """The refresh call's task tells the coordinator, as session.py's _call does: its
        outcome (or a fault: its decision raised, or faulted raised too, and the last resort
        runs), then, in any case, that the call is over."""
        epoch, call, sent = self.on_the_wire.pop(ident)
        c = self.coordinator
        if how == "answered":
            if self.body and sent is not None and 200 <= outcome.status < 300 and outcome.refresh_token:
                self.spent.add(sent)  # the server rotated it, whatever this tab makes of the answer (stale or not)
            self.apply(c.refresh_answered(self.now, outcome, epoch=epoch, call=call, waiting=self.waiting(), seen=True))
        elif how == "failed":
            self.apply(c.refresh_failed(self.now, error=outcome, epoch=epoch, call=call, waiting=self.waiting()))
        elif how == "raised":
            self.apply(c.faulted(self.now, error=outcome, epoch=epoch, call=call, calls_out=self.calls_out()))
        else:  # the last resort: faulted itself raised
            gate = for_engine(c.abandon(0, self.calls_out(), call))
            self.gate_token = gate[3]
            self.step(["apply", json.dumps([["failWaiting", "refresh-failed", "last resort"], gate])])
        self.tasks.discard(call)
        self.apply(c.call_ended(self.now, call))

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

    def message_came(self, what, token, lifetime, tab, fresh, refresh_token=None, marker=None):
        """tabs.py read a message of the right shape: session.py hands it to the coordinator."""
        if what == "signed-in" and (token or not self.bearer):
            self.over = False  # another tab signed in, and this tab may use it (README: cross_tab)
        self.apply(self.coordinator.remote(
            self.now, what, token=token, lifetime=lifetime, tab=tab, fresh=fresh, refresh_token=refresh_token, marker=marker
        ))

    # -- rules: requests and their answers --------------------------------------------------------

    def submit(self):
        pick = self.choose.pick
        self.send(pick([False, True]), pick([True, True, False]), pick([1, 2, 3]), pick([None, None, 500]), pick([True, False]))

    def send(self, safe, replayable, count, timeout, paced):
        self.told("submit", f"safe={safe} replayable={replayable} count={count} timeout={timeout} paced={paced}")
        operations = []
        for _ in range(count):
            self.next_ident += 1
            ident = self.next_ident
            self.requests[ident] = 0
            flags = CREDENTIALED | COORDINATED | (PACED if paced else 0)
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
        self.apply(self.coordinator.faulted(self.now, error="injected", held=held, seen=seen, calls_out=self.calls_out()))

    def a_decision_raises(self):
        """session.py's _input: any other input that raised (a timer, a message) is faulted."""
        self.told("a decision raised")
        self.apply(self.coordinator.faulted(self.now, error="injected", calls_out=self.calls_out()))

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
        if marker is not None:
            self.browser.storage[self.tabs.name] = marker  # another tab's (or another version's)
        renewed, lifetime = self.tabs.renewal(record=not self.body)  # as session.py: in body mode the message makes it known
        c = self.coordinator
        if self.body and renewed and c.refresh_token is not None and epoch == c.epoch and c.refreshing:
            # That tab rotated the one token the tabs share. (Only where this tab is told: a
            # marker seen by a stale lock and then overwritten by garbage before the next look,
            # with the renewal's message lost too, is beyond what a tab can know.)
            self.spent.add(c.refresh_token)
        self.apply(self.coordinator.lock_acquired(self.now, epoch=epoch, renewed_elsewhere=renewed, lifetime=lifetime))

    def the_refresh_call_is_answered(self):
        """Its body as the session would read it: the text, or None beyond the limit."""
        number = self.choose.pick(self.refresh_calls_out())
        answer, retry_after = self.choose.pick(ANSWERS + (BODY_ANSWERS * 3 if self.body else [])), self.choose.pick(RETRY_AFTER)
        how = self.choose.pick(["answered"] * 6 + ["raised", "last resort"])
        ident = self.open_calls.pop(number)
        status, text = answer
        self.told("refresh call", ident, "of", self.on_the_wire[ident], "answered", status, repr(text)[:60],
                  "retry-after", retry_after, "" if how == "answered" else "and its decision: " + how)
        self.step(["answer", number, status, text or ""])
        parsed = inputs.refresh_answer(status, text, content_type="text/html" if text and "<" in text else None,
                                       retry_after_text=retry_after, server=BODY_SERVER if self.body else None)
        self.tell(ident, how, parsed if how == "answered" else "RuntimeError (injected)")

    def the_refresh_call_fails_or_its_task_raises(self):
        how = self.choose.pick(["network", "raised"])
        number = self.refresh_calls_out()[0]
        self.told("refresh call", self.open_calls[number], how)
        if how == "network":  # the engine settles it as a failure; step() tells the coordinator
            self.step(["fail", number, "reset"])
            return
        # session.py's _call: whatever the way raises is faulted; its answer comes to nothing
        self.tell(self.open_calls[number], "raised", "MemoryError (injected)")

    def the_epoch_changes_while_a_call_is_out(self):
        """A sign-in, or a fault, while a refresh call is on the wire: that call is stale now,
        and a new round's call must wait until it has landed."""
        if self.choose.pick(["sign-in", "fault"]) == "sign-in":
            self.told("sign-in while", self.on_the_wire, "is out")
            self.over = False
            self.apply(self.coordinator.signed_in(self.now, token="tok-s", lifetime=None, refresh_token=self.fresh_refresh_token()))
        else:
            self.told("a fault while", self.on_the_wire, "is out")
            self.apply(self.coordinator.faulted(self.now, error="injected", calls_out=self.calls_out()))
        self.send(True, True, 1, None, True)  # and a request whose 401 would start a round

    def fresh_refresh_token(self):
        """A sign-in's refresh token in body mode: a new family each time."""
        if not self.body:
            return None
        self.sign_ins += 1
        return "rt-in-" + str(self.sign_ins)

    def a_tab_wait_runs_out(self):
        epoch, wait = self.tab_waits.pop(0)
        self.told("the wait for the tabs runs out, epoch", epoch, "wait", wait)
        self.apply(self.coordinator.tabs_silent(self.now, epoch=epoch, wait=wait, waiting=self.waiting()))

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
            token, lifetime, _ = inputs.sign_in_answer(text_of(body), "data.accessToken")
            self.over = False  # a sign-in revives the session
            self.apply(c.signed_in(self.now, token=token, lifetime=lifetime, refresh_token=self.fresh_refresh_token()))
        elif what == "sign-out":
            self.over = True  # this tab signed out: nothing is sent until a sign-in
            self.apply(c.end_session())
        elif what == "message":
            self.tabs._received(text_of(message))  # tabs.py reads it; message_came() if of the right shape
        else:
            self.apply(c.close(self.now))

    # -- invariants -------------------------------------------------------------------------------

    def the_gate_is_paused_only_for_a_refresh_round(self):
        if self.reports or not self.engine:
            return  # a trip may be on its way to the coordinator
        c = self.coordinator
        if self.engine["gate"] == "paused":
            assert c.refreshing, f"the engine stays paused with no refresh round to reopen it: {self.engine}"
        if not c.refreshing and c.session == LIVE and self.engine["queued"]:
            paced_out = len([i for i, state in self.unsettled.items() if i < REFRESH and state == "flying"])
            assert self.limit is not None and paced_out >= self.limit, f"requests held with no refresh round: {self.engine}"
        if self.engine["gate"] == "open":
            assert self.engine["generation"] == c.generation

    def nothing_is_sent_while_the_session_is_over(self):
        if self.over and not self.reports:
            assert self.coordinator.session != LIVE and self.engine["gate"] == "ended", (self.engine, self.coordinator.session)

    def teardown(self):
        """Let everything finish: the engine must hold nothing at the end, no round may run."""
        self.told("-- everything is let finish")
        for _ in range(300):
            if self.reports:
                self.deliver(len(self.reports))
            elif self.locks:
                renewed, lifetime = self.tabs.renewal(record=not self.body)  # as session.py
                self.apply(self.coordinator.lock_acquired(self.now, epoch=self.locks.pop(0), renewed_elsewhere=renewed,
                                                          lifetime=lifetime))
            elif self.refresh_calls_out():
                number = self.refresh_calls_out()[0]
                ident = self.open_calls.pop(number)
                self.step(["answer", number, 200, GOOD])
                self.tell(ident, "answered", inputs.refresh_answer(200, GOOD))
            elif self.retry_timers:
                self.apply(self.coordinator.retry_refresh(self.now, epoch=self.retry_timers.pop(0), waiting=self.waiting()))
            elif self.tab_waits:
                epoch, wait = self.tab_waits.pop(0)
                self.apply(self.coordinator.tabs_silent(self.now, epoch=epoch, wait=wait, waiting=self.waiting()))
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
        c = self.coordinator
        assert not self.unsettled, (
            f"requests never settled: {sorted(self.unsettled.items())} (engine {self.engine}, refreshing "
            f"{c.refreshing}, session {c.session})"
        )
        assert not c.refreshing and self.engine["gate"] != "paused", f"a round left running: {self.engine}"


# (rule, when it can be taken, weight): the refresh's own steps weigh more, so that rounds run
# their course (retries, locks, answers of every shape) more often than requests pile up.
RULES = [
    (Driver.submit, lambda d: True, 1),
    (Driver.an_answer_comes, lambda d: d.request_calls(), 2),
    (Driver.reports_arrive, lambda d: d.reports, 2),
    (Driver.a_report_no_one_could_decide_on, lambda d: d.reports, 1),
    (Driver.a_decision_raises, lambda d: d.coordinator.refreshing, 1),
    (Driver.a_request_is_cancelled_or_times_out, lambda d: d.unsettled_requests(), 1),
    (Driver.the_lock_is_granted_or_not, lambda d: d.locks, 3),
    (Driver.the_refresh_call_is_answered, lambda d: d.refresh_calls_out(), 4),
    (Driver.the_refresh_call_fails_or_its_task_raises, lambda d: d.refresh_calls_out(), 1),
    (Driver.a_retry_timer_fires, lambda d: d.retry_timers, 3),
    (Driver.a_tab_wait_runs_out, lambda d: d.tab_waits, 2),
    (Driver.the_epoch_changes_while_a_call_is_out, lambda d: d.on_the_wire, 1),
    (Driver.something_else_happens, lambda d: True, 1),
]


def failure_of(choices):
    """The first line of what a run on ``choices`` fails with (None if it passes), and its story."""
    driver = Driver(Choices(choices))
    try:
        driver.run()
    except AssertionError as failure:
        return str(failure).split("\n")[0], driver.story
    return None, driver.story


def shrunk(choices, failure):
    """Fewer choices that fail the same way: chunks taken out while the failure stays."""
    chunk = max(1, len(choices) // 2)
    while chunk >= 1:
        at, smaller = 0, False
        while at < len(choices):
            candidate = choices[:at] + choices[at + chunk:]
            if candidate and failure_of(candidate)[0] == failure:
                choices, smaller = candidate, True
            else:
                at += chunk
        if not smaller:
            chunk //= 2
    return choices


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), **DETERMINISTIC)
@given(st.integers(0, 2**64 - 1), st.integers(1, 8 * STEPS))
def test_the_coordinator_and_the_engine_settle_every_request(seed, length):
    # Hypothesis picks the seed; the choices are uniform bytes from it (its own draws lean to
    # small values, which kept some interleavings out of 10,000 examples), shrunk here on failure.
    choices = random.Random(seed).randbytes(length)
    failure, story = failure_of(choices)
    if failure is not None:
        choices = shrunk(choices, failure)
        _, story = failure_of(choices)
        raise AssertionError(f"{failure}\n\nthe story (choices {choices!r}):\n  " + "\n  ".join(story))
