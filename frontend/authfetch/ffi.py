"""Every difference between MicroPython and Pyodide at the JavaScript boundary, in one place.

compat.py holds the differences of plain Python; these are the ones of crossing to JS, used by
transport.py and bridge.py only (tests/unit/test_layout.py keeps it so).
"""

from .compat import MICROPYTHON


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


BYTES_AS_HEX = 32  # engine.js FLAGS.HEX: a str of hex digits that stands for bytes


def body_for_js(content, to_js):
    """(body, extra flags) to hand the engine a bytes body in one copy, not one call a byte.

    MicroPython passes only str (and numbers) across by value, so bytes go as hex: ``bytes.hex``
    and the engine's decoder are native code (about 15 ms for 1 MiB). Not as text: its UTF-8
    check lets surrogates and overlong forms through, which the JS side would then change.
    Pyodide copies bytes into a Uint8Array itself.
    """
    if MICROPYTHON:
        return content.hex(), BYTES_AS_HEX
    return to_js(content), 0


async def bytes_from_js(engine_js, kept):
    """A kept answer's body as bytes: hex text on MicroPython (decoded natively), a Uint8Array
    on Pyodide."""
    if MICROPYTHON:
        return bytes.fromhex(str(await engine_js.hex(kept)))
    return (await engine_js.bytes(kept)).to_bytes()
