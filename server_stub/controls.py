"""Test controls: counters, scripted refresh faults and a shiftable clock.

The routes under ``/__stub__/`` exist only with ``--test-controls``; the counters and the clock are
always there because the API uses them.
"""

import collections
import re
import time

FAULT_KEYS = {"status", "delay_ms", "drop", "body", "content_type", "rotate_then_drop", "pad_bytes", "expires_in_raw", "access_token"}
# Faults that bend a genuine rotation's answer (cookies set, the family rotated) instead of
# replacing it: a huge answer, a lifetime written as raw JSON text, a token the browser refuses.
SHAPING_KEYS = {"pad_bytes", "expires_in_raw", "access_token"}
MAX_PAD_BYTES = 64 * 1024 * 1024


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.counters = collections.Counter()
        self.requests = collections.Counter()
        self.request_ids = collections.Counter()
        # How many requests arrived carrying each credential (shows leaks to a foreign origin).
        self.carried = collections.Counter()
        self.served = collections.Counter()  # every other path asked for (pages, scripts, wheels)

    def bump(self, name, by=1):
        self.counters[name] += by

    def snapshot(self):
        names = ("refresh_calls", "rotations", "reuse_detected", "revocations", "logins")
        out = {name: self.counters[name] for name in names}
        out["requests"] = dict(self.requests)
        out["request_ids"] = dict(self.request_ids)
        out["carried"] = {k: self.carried[k] for k in ("cookie", "authorization", "csrf")}
        out["served"] = dict(self.served)
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
            if "content_type" in item and ("body" not in item or not isinstance(item["content_type"], str)):
                raise ValueError(f"content_type must be a string, given with a body, got {item!r}")
            if set(item) & SHAPING_KEYS and set(item) & {"status", "body", "drop"}:
                raise ValueError(f"{sorted(SHAPING_KEYS)} shape a genuine answer: not with status, body or drop")
            pad = item.get("pad_bytes", 0)
            if not isinstance(pad, int) or isinstance(pad, bool) or not 0 <= pad <= MAX_PAD_BYTES:
                raise ValueError(f"pad_bytes must be an int from 0 to {MAX_PAD_BYTES}, got {item['pad_bytes']!r}")
            for key in ("expires_in_raw", "access_token"):
                if key in item and not isinstance(item[key], str):
                    raise ValueError(f"{key} must be a string, got {item[key]!r}")
            if "expires_in_raw" in item and not _json_number_text(item["expires_in_raw"]):
                raise ValueError(f"expires_in_raw must be JSON number text such as 1e400, got {item['expires_in_raw']!r}")
            for flag in ("drop", "rotate_then_drop"):
                if flag in item and not isinstance(item[flag], bool):
                    raise ValueError(f"{flag} must be true or false, got {item[flag]!r}")
        return items

    def next_refresh(self):
        return self.refresh.popleft() if self.refresh else {}


def shaping(fault):
    """The part of a fault that bends a genuine answer (empty: answer as usual)."""
    return {key: fault[key] for key in SHAPING_KEYS if key in fault}


def _json_number_text(text):
    """Whether ``text`` is a JSON number as written (1e400 included: JSON has no range limit)."""
    return re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", text) is not None
