"""Events handed to listeners: small values, one per happening.

    api.on("refresh", lambda event: print(event.name, event.generation))

Names: refresh-start, refresh, refresh-failed, session-expired, no-session, replay, request.
("no-session": the refresh found no session to renew on a page that never had one, a first
visit before signing in; "session-expired": a session this page had has ended.)

"request" is each step of each request, for a page that draws them (the demo's timeline):
``ident`` (the request's number); ``phase``: "queued" (asked for), "sent", "held" (at the
gate), "first-401" (its answer paused the gate), "stale" (another refresh-wanted answer),
"done"; ``at`` (ms, the page's performance.now()); ``status``; ``attempt``; ``detail``
("METHOD url" when queued and sent; when done, the reason it failed, e.g. "session-expired"
with its last 401, else ""). Only listeners of "request" get it, not "*": the engine reports
steps only while one listens, as each step costs a crossing into Python.
"""

EVENT_NAMES = ("refresh-start", "refresh", "refresh-failed", "session-expired", "no-session", "replay", "request")


class Event:
    def __init__(self, name, **fields):
        self.name = name
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __repr__(self):
        return f"<Event {self.name} {self.fields!r}>"
