"""One refresh per browser, not per tab.

With refresh-token rotation, two tabs refreshing at once send the same refresh token twice;
the server sees reuse and revokes the family, logging the user out everywhere. So:

- the refresh runs inside a Web Lock named after the refresh URL (one tab at a time, a bounded
  wait, released by the browser even if the tab dies);
- after taking the lock a tab looks at a small shared marker (localStorage: a counter and the
  lifetime, never a token) and, if another tab refreshed since this tab's credentials, adopts
  that renewal instead of refreshing;
- renewals, sign-ins, sign-outs and session ends are announced on a BroadcastChannel, so the
  other tabs replay what they hold, or end their session, at once.

In bearer mode the access token lives in each tab's memory and is not broadcast unless
``share_token=True``: any script on the origin can listen to a BroadcastChannel, so sharing it
widens who can read the token. Without it, tabs still refresh one at a time (no reuse), each
getting its own token.
"""

import json

from .compat import random

DEFAULT_LOCK_TIMEOUT = 10.0
_warned = []


def warn_once(message):
    if not _warned:
        _warned.append(True)
        print("authfetch: " + message)


class TabSync:
    def __init__(self, session, transport, *, lock_timeout, share_token):
        self.session = session
        self.transport = transport
        self.lock_timeout = lock_timeout
        self.share_token = share_token
        self.name = "authfetch:" + session.options.refresh_url
        self.tab = "tab-" + str(int(random() * 1e9))
        self._channel = transport.open_channel(self.name, self._received)
        self.known = self._marker()
        self.closed = False

    def close(self):
        self.closed = True
        self._channel.close()

    # -- the shared marker --------------------------------------------------------------------

    def _marker(self):
        text = self.transport.shared_get(self.name)
        try:
            marker = json.loads(text) if text else None
        except ValueError:
            return None
        return marker if isinstance(marker, dict) and isinstance(marker.get("n"), int) else None

    def _bump(self, lifetime):
        current = self._marker() or {"n": 0}
        self.known = {"n": current["n"] + 1, "lifetime": lifetime, "tab": self.tab}
        self.transport.shared_set(self.name, json.dumps(self.known))
        return self.known

    # -- refresh under the lock ---------------------------------------------------------------

    async def refresh(self, epoch, call):
        """Run ``call(epoch)`` (the real refresh) under the cross-tab lock, unless another tab
        already renewed the credentials, in which case adopt that."""
        release = await self.transport.acquire_lock(self.name, self.lock_timeout)
        try:
            coordinator = self.session.coordinator
            if epoch != coordinator.epoch or not coordinator.refreshing:
                return  # settled while we waited (a broadcast arrived first)
            marker = self._marker()
            if marker is not None and marker != self.known and self.session.can_adopt(None):
                self.known = marker
                self.session.adopt_remote(None, marker.get("lifetime"))
                return
            await call(epoch)
        finally:
            release()

    # -- announcements ------------------------------------------------------------------------

    def refreshed(self, lifetime, token):
        marker = self._bump(lifetime)
        self._send("refreshed", marker=marker, token=token if self.share_token else None)

    def signed_in(self, lifetime, token):
        marker = self._bump(lifetime)
        self._send("signed-in", marker=marker, token=token if self.share_token else None)

    def ended(self, kind):
        self._send(kind)

    def _send(self, kind, **fields):
        if self.closed:  # a refresh ending after close(): posting on a closed channel throws
            return
        fields["type"] = kind
        fields["tab"] = self.tab
        self._channel.post(json.dumps(fields))  # strings only: MicroPython cannot post Python dicts

    def _received(self, text):
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            return  # not ours
        if kind in ("refreshed", "signed-in"):
            marker = message.get("marker")
            token = message.get("token")
            if not self.session.can_adopt(token):
                return  # bearer mode without a shared token: this tab renews its own, in turn
            if kind == "refreshed" and marker is not None and marker == self.known:
                return  # adopted already: this tab read the marker under the lock first
            self.known = marker
            lifetime = marker.get("lifetime") if isinstance(marker, dict) else None
            if kind == "signed-in":
                self.session.adopt_sign_in(token, lifetime)
            else:
                self.session.adopt_remote(token, lifetime, tab=message.get("tab"))
        elif kind in ("session-expired", "signed-out"):
            self.session.remote_ended(kind)
