"""One refresh per browser, not per tab: the cross-tab primitives of one session.

With refresh-token rotation, two tabs refreshing at once send the same refresh token twice;
the server sees reuse and revokes the family, logging the user out everywhere. So:

- the refresh runs inside a Web Lock named after the refresh URL (one tab at a time, a bounded
  wait, released by the browser even if the tab dies);
- after taking the lock a tab looks at a small shared marker (localStorage: a counter and the
  lifetime, never a token) and tells the coordinator whether another tab renewed since this
  tab's credentials; the coordinator adopts that renewal instead of refreshing;
- renewals, sign-ins, sign-outs and session ends are announced on a BroadcastChannel, so the
  other tabs replay what they hold, or end their session, at once.

This module does the I/O only: the coordinator decides what a lock holder does and what a
message means. Markers and messages from other tabs (an older version, an extension, a user's
devtools) are checked by inputs.py; one of the wrong shape is ignored, with a note.

In bearer mode the access token lives in each tab's memory and is not broadcast unless
``share_token=True``: any script on the origin can listen to a BroadcastChannel, so sharing it
widens who can read the token. Without it, tabs still refresh one at a time (no reuse), each
getting its own token.

Where the refresh token travels in the body (Simple JWT, OAuth 2.0), ``share_token=True``
hands it round too: a renewal's message carries the rotated one (posted before the lock goes
back, so the next holder finds it on its way), a tab without one asks ("ask") and a tab that
has one answers ("share"). Without share_token such tabs have a session each and no channel.
"""

import json

from . import inputs
from .compat import random

DEFAULT_LOCK_TIMEOUT = 10.0
UNREAD = object()
_warned = []


def warn_once(message):
    if not _warned:
        _warned.append(True)
        print("authfetch: " + message)


def _kind(text):
    try:
        value = json.loads(str(text))
    except Exception:
        return "not JSON"
    kind = value.get("type") if isinstance(value, dict) else None
    return "type " + repr(kind)[:24] if isinstance(kind, str) else "no type"


class TabSync:
    def __init__(self, transport, name, *, lock_timeout, share_token, on_message):
        self.transport = transport
        self.name = name
        self.lock_timeout = lock_timeout
        self.share_token = share_token
        self.tab = "tab-" + str(int(random() * 1e9))
        self._on_message = on_message  # (what, token, lifetime, tab, fresh, refresh token, marker)
        self._channel = transport.open_channel(name, self._received)
        # The last renewal this tab knows of: the marker as it stands now, or, where it cannot be
        # read yet (a wheel imports engine.js later), as it stands when this tab first looks.
        self.known = inputs.marker(transport.shared_get(name)) if transport.shared_ready() else UNREAD
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self._channel.close()

    async def lock(self):
        """Take the cross-tab lock (waiting at most lock_timeout); returns ``release()``."""
        return await self.transport.acquire_lock(self.name, self.lock_timeout)

    def renewal(self, record=True):
        """(renewed, lifetime): whether the marker names a renewal this tab does not know yet.
        ``record``: take it as known now (else only its message makes it known)."""
        marker = inputs.marker(self.transport.shared_get(self.name))
        if self.known is UNREAD:  # no telling whether it came before this tab's credentials:
            self.known = marker  # refresh rather than adopt (safe under the lock)
            return False, None
        if marker is None or marker == self.known:
            return False, None
        if record:
            self.known = marker
        return True, marker["lifetime"]

    def announce(self, what, lifetime, token, refresh_token=None):
        """Tell the other tabs; a renewal or sign-in also bumps the marker (under the lock)."""
        fields = {}
        if what in ("refreshed", "signed-in"):
            current = inputs.marker(self.transport.shared_get(self.name))
            self.known = {"n": (current["n"] if current else 0) + 1, "lifetime": lifetime, "tab": self.tab}
            problem = self.transport.shared_set(self.name, json.dumps(self.known))
            if problem:
                inputs.note("could not write the cross-tab marker: " + problem)
        if what in ("refreshed", "signed-in", "share"):
            fields = {"marker": self.known if isinstance(self.known, dict) else None}
            if self.share_token:
                fields["token"] = token
                fields["refresh"] = refresh_token
        if self.closed:  # a refresh ending after close(): the channel is closed
            return
        fields["type"] = what
        fields["tab"] = self.tab
        problem = self._channel.post(json.dumps(fields))  # strings only: MicroPython cannot post Python dicts
        if problem:
            inputs.note("could not tell the other tabs: " + problem)

    def _received(self, text):
        found = inputs.message(text)
        if found is None:
            # Its type and size only: a message may carry tokens, which never go to the console.
            inputs.note(f"ignored a cross-tab message of the wrong shape ({_kind(text)}, {len(str(text))} characters)")
            return
        what, marker, token, tab, refresh = found
        fresh = marker is None or marker != self.known
        if marker is not None and what != "share":  # an answer to an ask tells no renewal
            self.known = marker
        self._on_message(what, token, marker["lifetime"] if marker else None, tab, fresh, refresh, marker)
