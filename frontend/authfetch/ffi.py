"""Every difference between MicroPython and Pyodide at the JavaScript boundary, in one place.

compat.py holds the differences of plain Python; these are the ones of crossing to JS, used by
transport.py and bridge.py only (tests/unit/test_layout.py keeps it so).
"""

from .compat import MICROPYTHON
from .errors import UsageError


def ffi():
    """(create_proxy, to_js) for this interpreter: PyScript's when it runs us, else the
    interpreter's own (the embed loads MicroPython or Pyodide without PyScript)."""
    try:
        from pyscript.ffi import create_proxy, to_js

        return create_proxy, to_js
    except ImportError:
        pass
    if MICROPYTHON:
        from jsffi import create_proxy, to_js

        return create_proxy, to_js
    import js
    from pyodide.ffi import create_proxy, to_js as pyodide_to_js

    def to_js(value):
        return pyodide_to_js(value, dict_converter=js.Object.fromEntries)

    return create_proxy, to_js


def nullish(value):
    """JS null or undefined as it reaches Python: MicroPython has None for null and an
    ``undefined`` object for undefined; Pyodide None for undefined and a JsNull for null."""
    return value is None or type(value).__name__ in ("JsNull", "undefined")


def destroy(proxy):
    """Free a proxy JS no longer calls (Pyodide's keep the Python object alive until then)."""
    free = getattr(proxy, "destroy", None)
    if free is not None:
        free()


HEX_CHUNK = 65536  # bytes per crossing: big enough to be quick, small enough for a 1 MiB heap


def body_for_js(content, to_js, from_hex_into):
    """A bytes body as a JS Uint8Array, copied natively, not one call a byte.

    Pyodide copies bytes into a Uint8Array itself. MicroPython passes only str and numbers by
    value, so the bytes cross as hex (``bytes.hex`` and the engine's decoder are native code)
    in chunks decoded into place: a whole 1 MiB body as one 2 MiB string could not be allocated
    by MicroPython's heap under PyScript (1 MiB at first, grown in steps). Not as text: its UTF-8
    check lets surrogates and overlong forms through, which JavaScript would then change.
    """
    if not MICROPYTHON:
        return to_js(content)
    import js

    target = js.Uint8Array.new(len(content))
    view = memoryview(content)
    for offset in range(0, len(content), HEX_CHUNK):
        from_hex_into(target, offset, bytes(view[offset : offset + HEX_CHUNK]).hex())
    return target


async def bytes_from_js(engine_js, kept):
    """A kept answer's body as bytes: hex text on MicroPython (decoded natively), a Uint8Array
    on Pyodide; None for an answer no longer kept."""
    if MICROPYTHON:
        text = await engine_js.hex(kept)
        return None if nullish(text) else bytes.fromhex(str(text))
    value = await engine_js.bytes(kept)
    return None if nullish(value) else value.to_bytes()


# -- waiting synchronously (Pyodide; authfetch.sync) ----------------------------------------------


def can_run_sync():
    """Whether synchronous code may wait for a promise here (JS Promise Integration: Pyodide
    entered through an async call, in a browser that has it)."""
    if MICROPYTHON:
        return False
    try:
        from pyodide.ffi import can_run_sync as can
    except ImportError:
        return False
    return can()


def run_sync(awaitable):
    from pyodide.ffi import run_sync as run

    return run(awaitable)


async def load_wheels(base_url, index_name):
    """Load every wheel listed in ``base_url/index_name`` ({"wheels": [file names]}) into Pyodide."""
    import json

    import js
    import pyodide_js

    base = str(js.URL.new(base_url, str(js.location.origin) + "/").href)
    base = base if base.endswith("/") else base + "/"
    answer = await js.fetch(base + index_name)
    if not answer.ok:
        raise UsageError(f"no wheel list at {base + index_name} (HTTP {answer.status})")
    names = json.loads(str(await answer.text()))["wheels"]
    _, to_js = ffi()
    await pyodide_js.loadPackage(to_js([base + name for name in names]))
    return names
