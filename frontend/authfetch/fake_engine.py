"""engine.js told in Python, for the CPython tests: the same queue, slots, gate, trips, reports
and commands, with FakeTransport's handler as the server.

The client tests run with it on CPython and with the real engine.js under MicroPython and
Pyodide (tests/portable/run_node.mjs), so the two are held to one behaviour by one test file.
It follows engine.js step for step; read that file's comments for the why.
"""

import json as _json

from .compat import Signal, call_later, cancel, monotonic, spawn
from .config import COORDINATED, CREDENTIALED, PACED, RECALLABLE, SAFE_METHODS
from .models import Headers

ID_WRAP = 1000000


class Sent:
    """One request as the fake server received it."""

    def __init__(self, method, url, headers, body, credentials):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.credentials = credentials

    def json(self):
        return _json.loads(self.body)

    def __repr__(self):
        return f"<Sent {self.method} {self.url}>"


class FakeAbort:
    def __init__(self):
        self.aborted = False
        self.listeners = []

    def abort(self):
        self.aborted = True
        for listener in self.listeners:
            listener()


class Entry:
    def __init__(self, ident, profile, request, flags, done):
        self.ident, self.profile, self.request, self.flags, self.done = ident, profile, request, flags, done
        self.state = "new"
        self.attempt = 0
        self.generation = None
        self.replayed = False
        self.timed_out = False
        self.abort = None
        self.timer = None
        self.reply = None
        self.outcome = None
        self.abortable = False


class FakeEngine:
    """engine.js in Python (see its comments: this follows it step for step)."""

    def __init__(self, transport, *, max_in_flight, paced_origin):
        self.transport = transport
        self.profiles = []
        self.entries = {}
        self.queues = {"paced": [], "free": []}
        self.kept = {}
        self.counts = {"replays": 0, "recalls": 0, "max_held": 0}
        self.last_kept = 0
        self.generation = 0
        self.token = None
        self.gate = "open"
        self.end_reason = "session-expired"
        self.trip_seq = 0
        self.authenticated = -1
        self.tripped_generation = -1
        self.due_at = None
        # "auto": twice the connections the fake browser has (transport.limit), refilled once
        # half have come back; an int: that many, refilled at once (see engine.js).
        if max_in_flight == "auto":
            connections = transport.limit
            self.limit = None if connections is None else 2 * connections
            self.refill_at = connections
        else:
            self.limit = self.refill_at = max_in_flight
        self.paced_flying = 0
        self.filling = True
        self.listener = None
        self.reports = []
        self.tracing = False

    # -- reports --------------------------------------------------------------------------------

    def report(self, item):
        if not self.reports:
            call_later(0, self.flush)
        self.reports.append(item)

    def flush(self):
        batch, self.reports = self.reports, []
        if batch:
            self.listener(_json.dumps(batch))

    def step(self, entry, phase, status, detail):
        self.report(["trace", entry.ident, phase, monotonic() * 1000, status, entry.attempt, detail])

    def trip(self):
        self.trip_seq += 1
        self.tripped_generation = self.generation
        if self.gate == "open":
            self.gate = "paused"
            if self.tracing:
                for entry in self.queues["paced"] + self.queues["free"]:
                    if entry.flags & COORDINATED:
                        self.step(entry, "held", 0, "")
        return self.trip_seq

    # -- the queue ------------------------------------------------------------------------------

    def queued(self):
        return len(self.queues["paced"]) + len(self.queues["free"])

    def enqueue(self, entry, front):
        entry.state = "queued"
        queue = self.queues["paced" if entry.flags & PACED else "free"]
        if front:
            queue.insert(0, entry)
        else:
            queue.append(entry)
        if entry.flags & COORDINATED:
            self.counts["max_held"] = max(self.counts["max_held"], self.queued())
        if self.tracing and self.gate != "open" and entry.flags & COORDINATED:
            self.step(entry, "held", 0, "")

    def unqueue(self, entry):
        queue = self.queues["paced" if entry.flags & PACED else "free"]
        if entry in queue:
            queue.remove(entry)

    def pump(self):
        if self.gate != "open":
            return
        while self.queues["free"]:
            self.transmit(self.queues["free"].pop(0))
        if self.limit is None:
            while self.queues["paced"]:
                self.transmit(self.queues["paced"].pop(0))
            return
        if self.paced_flying <= self.refill_at:
            self.filling = True
        while self.filling and self.queues["paced"] and self.paced_flying < self.limit:
            self.transmit(self.queues["paced"].pop(0))
        if self.paced_flying >= self.limit:
            self.filling = False

    def finish(self, entry, outcome):
        if entry.state == "done":
            return
        entry.state = "done"
        self.entries.pop(entry.ident, None)
        cancel(entry.timer)
        if self.tracing:
            reply = outcome.get("reply")
            self.step(entry, "done", reply.status if reply is not None else 0, outcome.get("error") or "")
        entry.outcome = outcome
        entry.done.set()

    # -- sending --------------------------------------------------------------------------------

    def outgoing(self, entry):
        profile = self.profiles[entry.profile]
        headers = Headers(profile["headers"])
        if entry.request.headers is not None:
            for name, value in entry.request.headers.items():
                headers.set(name, value)
        if entry.flags & CREDENTIALED:
            if profile["bearer"] and self.token:
                headers.set("Authorization", "Bearer " + self.token)
            if profile["csrfCookie"] and profile["csrfHeader"] and entry.request.method not in SAFE_METHODS:
                value = self.transport.read_cookie(profile["csrfCookie"])
                if value:
                    headers.set(profile["csrfHeader"], value)
        return headers

    def transmit(self, entry):
        request = entry.request
        body = request.content if request.stream is None else request.stream.data
        if isinstance(body, str):
            body = body.encode()
        sent = Sent(request.method, request.url, self.outgoing(entry), body or b"", bool(entry.flags & CREDENTIALED))
        entry.abort = FakeAbort()
        # As engine.js: abortable only with a timeout, or recallable where it may wait in the
        # browser's own queue (no limit, or another origin).
        entry.abortable = entry.timer is not None or bool(
            entry.flags & RECALLABLE and (self.limit is None or not entry.flags & PACED)
        )
        entry.state = "flying"
        entry.generation = self.generation
        entry.reply = None
        entry.attempt += 1
        attempt = entry.attempt
        if entry.flags & PACED:
            self.paced_flying += 1
        if self.tracing:
            self.step(entry, "sent", 0, request.method + " " + request.url)
        if entry.replayed and entry.flags & COORDINATED:
            self.counts["replays"] += 1
            self.report(["replay", entry.ident, entry.request.method, entry.request.url])

        async def go(abort):
            outcome = await self.transport.serve(sent, abort)
            if isinstance(outcome, Exception):
                self.failed(entry, attempt, outcome)
            else:
                self.answered(entry, attempt, outcome, request.url)

        spawn(go(entry.abort))

    def withdraw(self, entry):
        entry.attempt += 1
        if entry.flags & PACED:
            self.paced_flying -= 1
        if entry.abortable:
            entry.abort.abort()

    def landed(self, entry, attempt):
        if entry.attempt != attempt or entry.state != "flying":
            return False
        if entry.flags & PACED:
            self.paced_flying -= 1
        return True

    def answered(self, entry, attempt, result, url):
        if not self.landed(entry, attempt):
            return
        result.url = url
        if entry.flags & COORDINATED and self.refresh_wanted(self.profiles[entry.profile], result):
            seq = self.trip_seq
            trips = not entry.replayed and entry.generation == self.generation
            if self.tracing:
                self.step(entry, "first-401" if trips and self.gate == "open" else "stale", result.status, "")
            if trips:
                seq = self.trip()
            entry.state = "held"
            entry.reply = result
            self.report(["answered", entry.ident, entry.generation, entry.replayed, entry.request.replayable, seq])
        else:
            if entry.flags & COORDINATED and 200 <= result.status < 300 and entry.generation != self.authenticated:
                self.authenticated = entry.generation
                self.report(["authenticated", entry.generation])
            self.finish(entry, {"reply": result})
        self.pump()

    def failed(self, entry, attempt, error):
        if not self.landed(entry, attempt):
            return
        self.finish(entry, {"error": "timeout" if entry.timed_out else "network", "message": str(error)})
        self.pump()

    def refresh_wanted(self, profile, result):
        if result.status not in profile["refreshOn"]:
            return False
        return "insufficient_scope" not in (result.headers.get("www-authenticate") or "")

    def time_out(self, entry):
        entry.timed_out = True
        if entry.state == "flying":
            entry.abort.abort()
            return
        if entry.state == "queued":
            self.unqueue(entry)
        self.finish(entry, {"error": "timeout", "message": "timed out", "reply": entry.reply})

    def start(self, ident, profile, request, flags):
        done = Signal()
        entry = Entry(ident, profile, request, flags, done)
        self.entries[ident] = entry
        if self.tracing:
            self.step(entry, "queued", 0, request.method + " " + request.url)
        if request.timeout is not None:
            entry.timer = call_later(request.timeout, lambda: self.time_out(entry))
        if not flags & COORDINATED:
            self.transmit(entry)
        elif self.gate == "ended":
            self.finish(entry, {"error": self.end_reason, "message": "the session has ended"})
        else:
            if self.due_at is not None and self.gate == "open" and monotonic() * 1000 >= self.due_at:
                self.due_at = None
                self.report(["due", self.trip()])
            self.enqueue(entry, False)
            self.pump()
        return entry

    def keep(self, result):
        self.last_kept = self.last_kept % (ID_WRAP - 1) + 1
        self.kept[self.last_kept] = result
        return self.last_kept

    # -- the session's side (the same methods as transport.JsWire) --------------------------------

    async def submit(self, ident, profile, request, flags):
        entry = self.start(ident, profile, request, flags)
        await entry.done.wait()
        outcome = entry.outcome
        result = outcome.get("reply")
        if result is not None and "error" not in outcome:
            return self.keep(result) * 1000 + result.status
        kept = self.keep(result) if result is not None else 0
        status = result.status if result is not None else 0
        return f"{outcome['error']}|{kept}|{status}|{outcome.get('message') or ''}"

    def apply(self, commands):
        for command in _json.loads(_json.dumps(commands)):  # what crosses to JS is JSON
            getattr(self, "_" + command[0])(*command[1:])

    def _gate(self, state, generation, token, seen, reason):
        self.generation = generation
        self.token = token
        if state == "open":
            if seen >= self.trip_seq or generation > self.tripped_generation:
                self.gate = "open"
            elif self.gate == "ended":
                self.gate = "paused"
        else:
            self.gate = state
            if state == "ended":
                self.end_reason = reason or "session-expired"
        self.pump()

    def _verdict(self, ident, what, reason):
        entry = self.entries.get(ident)
        if entry is None or entry.state != "held":
            return
        if what == "replay":
            entry.replayed = True  # its 401 stays its last response until the replay goes out
            self.enqueue(entry, True)
            self.pump()
        elif what == "deliver":
            self.finish(entry, {"reply": entry.reply})
        else:
            self.finish(entry, {"error": reason, "message": reason, "reply": entry.reply})

    def _recall(self, generation):
        recalled = []
        for entry in list(self.entries.values()):
            if (
                entry.state == "flying"
                and entry.flags & RECALLABLE
                and not entry.replayed
                and entry.generation == generation
            ):
                self.withdraw(entry)
                entry.replayed = True
                self.counts["recalls"] += 1
                recalled.append(entry)
        for entry in reversed(recalled):  # at the front, in the order they were asked for
            self.enqueue(entry, True)
        self.pump()

    def _failWaiting(self, reason):  # noqa: N802 -- the engine's command name
        for name in ("free", "paced"):
            waiting, self.queues[name] = self.queues[name], []
            for entry in waiting:
                self.finish(entry, {"error": reason, "message": reason, "reply": entry.reply})

    def _due(self, delay_ms):
        self.due_at = None if delay_ms is None else monotonic() * 1000 + delay_ms

    def listen(self, callback):
        self.listener = callback

    def trace(self, on):
        self.tracing = bool(on)

    def profile(self, settings):
        self.profiles.append(_json.loads(_json.dumps(settings)))
        return len(self.profiles) - 1

    def cancel(self, ident):
        entry = self.entries.get(ident)
        if entry is None:
            return
        if entry.state == "queued":
            self.unqueue(entry)
        if entry.state == "flying":
            self.withdraw(entry)
        self.finish(entry, {"error": "cancelled", "message": "cancelled"})
        self.pump()

    def pending(self):
        return len([e for e in self.entries.values() if e.flags & COORDINATED])

    def stats(self):
        return dict(self.counts, max_in_flight=self.limit)

    def headers(self, kept):
        return self.kept[kept].headers.items()

    def url(self, kept):
        return self.kept[kept].url

    async def text(self, kept):
        return self.kept[kept].body.decode("utf-8")

    async def bytes(self, kept):
        return self.kept[kept].body
