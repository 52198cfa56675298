"""Events handed to listeners: small values, one per happening.

    api.on("refresh", lambda event: print(event.name, event.generation))

Names: refresh-start, refresh, refresh-failed, session-expired, no-session, replay.
("no-session": the refresh found no session to renew on a page that never had one, a first
visit before signing in; "session-expired": a session this page had has ended.)
"""

EVENT_NAMES = ("refresh-start", "refresh", "refresh-failed", "session-expired", "no-session", "replay")


class Event:
    def __init__(self, name, **fields):
        self.name = name
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __repr__(self):
        return f"<Event {self.name} {self.fields!r}>"
