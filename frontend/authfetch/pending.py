"""The engine while engine.js is still loading.

A page that imported engine.js (the one tag, a PyScript config listing it under js_modules)
has it at once. A package installed from the wheel has it only as a file next to its modules,
and a module cannot be imported synchronously, so the first session gets this stand-in: it
answers what the session asks at once (a profile's number, no requests pending), keeps the
commands and the listener, and holds the requests until the engine is there; then it hands
everything over in order and the session swaps it for the real one.
"""

from .compat import Signal, spawn
from .errors import UsageError


class PendingWire:
    def __init__(self, load):
        self._ready = Signal()
        self._real = None
        self._error = None
        self._profiles = []
        self._commands = []
        self._listener = None
        self._waiting = 0
        self._swap = None
        self._tracing = False
        spawn(self._load(load))

    async def _load(self, load):
        try:
            real = await load()
        except UsageError as error:
            self._error = error
        except Exception as error:  # e.g. a Content-Security-Policy refused the blob: import
            self._error = UsageError(
                f"authfetch could not load its engine.js ({error}); import it with the page "
                "(a PyScript js_modules entry, or the one tag), or allow blob: module scripts"
            )
        else:
            try:
                self._hand_over(real)
            except Exception as error:  # held requests must fail, not wait for ever
                self._error = UsageError(f"authfetch could not start its engine: {error!r}")
        self._ready.set()

    def _hand_over(self, real):
        if self._listener is not None:
            real.listen(self._listener)
        for settings in self._profiles:
            real.profile(settings)  # numbered as here: the engine counts from 0 too
        for commands in self._commands:
            real.apply(commands)
        if self._tracing:
            real.trace(True)
        self._real = real
        if self._swap is not None:
            self._swap(real)

    def when_ready(self, swap):
        """``swap(real)`` once the engine is loaded (the session then talks to it directly)."""
        self._swap = swap

    async def _loaded(self):
        while self._real is None and self._error is None:
            self._waiting += 1
            try:
                await self._ready.wait()
            finally:
                self._waiting -= 1
            self._ready.set()  # wake the next one waiting (Signal wakes one waiter)
        if self._error is not None:
            raise self._error
        return self._real

    async def submit(self, ident, profile, request, flags):
        real = self._real or await self._loaded()
        return await real.submit(ident, profile, request, flags)

    def apply(self, commands):
        if self._real is not None:
            return self._real.apply(commands)
        self._commands.append(commands)

    def listen(self, callback):
        self._listener = callback
        if self._real is not None:
            self._real.listen(callback)

    def profile(self, settings):
        if self._real is not None:
            return self._real.profile(settings)
        self._profiles.append(settings)
        return len(self._profiles) - 1

    def trace(self, on):
        self._tracing = on
        if self._real is not None:
            self._real.trace(on)

    def cancel(self, ident):
        if self._real is not None:
            self._real.cancel(ident)

    def pending(self):
        return self._real.pending() if self._real is not None else self._waiting

    def stats(self):
        if self._real is not None:
            return self._real.stats()
        return {"replays": 0, "recalls": 0, "max_held": 0, "max_in_flight": None}
