"""Test controls: counters, scripted refresh faults and a shiftable clock.

The routes under ``/__stub__/`` exist only with ``--test-controls``; the counters and the clock are
always there because the API uses them.
"""

import collections
import time

FAULT_KEYS = {"status", "delay_ms", "drop", "body", "rotate_then_drop"}


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.counters = collections.Counter()
        self.requests = collections.Counter()
        self.request_ids = collections.Counter()
        # How many requests arrived carrying each credential (shows leaks to a foreign origin).
        self.carried = collections.Counter()

    def bump(self, name, by=1):
        self.counters[name] += by

    def snapshot(self):
        names = ("refresh_calls", "rotations", "reuse_detected", "revocations", "logins")
        out = {name: self.counters[name] for name in names}
        out["requests"] = dict(self.requests)
        out["request_ids"] = dict(self.request_ids)
        out["carried"] = {k: self.carried[k] for k in ("cookie", "authorization", "csrf")}
        return out


class Clock:
    def __init__(self):
        self.offset_s = 0.0

    def __call__(self):
        return time.time() + self.offset_s


class Faults:
    """Faults queued for upcoming refresh calls, one each, in order."""

    def __init__(self):
        self.refresh = collections.deque()

    @staticmethod
    def validate(items):
        if not isinstance(items, list):
            raise ValueError('"refresh" must be a list of fault objects')
        for item in items:
            if not isinstance(item, dict) or not item or set(item) - FAULT_KEYS:
                raise ValueError(f"unknown fault {item!r}; known keys: {sorted(FAULT_KEYS)}")
            if "status" in item and not (isinstance(item["status"], int) and 100 <= item["status"] <= 599):
                raise ValueError(f"fault status must be an HTTP status, got {item['status']!r}")
            delay = item.get("delay_ms", 0)
            if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
                raise ValueError(f"delay_ms must be a number >= 0, got {item['delay_ms']!r}")
            # A non-string body or a "drop": "no" would otherwise surface later, as a 500 or a wrong fault.
            if "body" in item and not isinstance(item["body"], str):
                raise ValueError(f"fault body must be a string, got {item['body']!r}")
            for flag in ("drop", "rotate_then_drop"):
                if flag in item and not isinstance(item[flag], bool):
                    raise ValueError(f"{flag} must be true or false, got {item[flag]!r}")
        return items

    def next_refresh(self):
        return self.refresh.popleft() if self.refresh else {}
