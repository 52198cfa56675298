"""Scenario 9, body: a 1 MiB request body from Python, and what copying it to JavaScript costs.

MicroPython hands JavaScript only strings and numbers by value, so a bytes body crosses as hex,
64 KiB at a time (``bytes.hex`` in the interpreter, the engine's decoder in JavaScript: both
native code); Pyodide copies bytes into a Uint8Array itself. MicroPython's heap under PyScript
starts at 1 MiB and grows in steps, so the snippet grows it before making the 1 MiB body (one
1 MiB allocation on a fresh heap fails: an interpreter limit, not authfetch's). Per repetition, in turn: ``raw`` posts the same 1 MiB
from JavaScript (the network round trip on this machine, the stub hashing what it got);
``authfetch-<interpreter>`` posts it with ``api.post(body=...)``; ``copy-<interpreter>`` is the
copy on its own (Python bytes to a JavaScript Uint8Array), which must take less time than the
round trip. The stub's answer (the sha256 of what it received) is checked every time.
"""

import hashlib

from .common import HARNESS_READY, LOGIN, harness_url, new_page, run_py, summarise

SIZE = 1024 * 1024 - 1024  # the stub takes bodies up to 1 MiB
EXPECTED = hashlib.sha256(bytes(i & 255 for i in range(SIZE))).hexdigest()

PY_BODY = """
import binascii
import hashlib
import js
from authfetch.ffi import body_for_js, ffi

_, to_js = ffi()

async def main():
    for kib in (128, 256, 512, 768, 1024):  # grow MicroPython's heap in steps (see the docstring)
        bytearray(kib * 1024)
    content = bytearray(%(size)d)
    for i in range(256):
        content[i] = i
    step = 256
    while step < len(content):  # doubling copies: a 1 MiB pattern without a Python loop per byte
        content[step:step * 2] = content[:min(step, len(content) - step)]
        step *= 2
    content = bytes(content)
    api = client()
    started = js.performance.now()
    copied = body_for_js(content, to_js, js.authfetchEngine.fromHexInto)
    copy_ms = js.performance.now() - started
    assert int(copied.length) == len(content)
    started = js.performance.now()
    response = await api.post("/echo", body=content, headers={"Content-Type": "application/octet-stream"})
    post_ms = js.performance.now() - started
    return {"copy_ms": copy_ms, "post_ms": post_ms, "status": response.status,
            "sha256": (await response.json())["data"]["sha256"]}
"""
RAW_BODY = """async (size) => {
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i++) body[i] = i & 255;
    const started = performance.now();
    const response = await fetch("/api/v1/echo", {method: "POST", credentials: "include", body,
        headers: {"Content-Type": "application/octet-stream"}});
    const ms = performance.now() - started;
    return {ms, status: response.status, sha256: (await response.json()).data.sha256};
}"""


def run(settings, browser, stub, results, log):
    pages = {}
    for runtime in ("mpy", "py"):
        if settings.keeps(f"authfetch-{runtime}"):
            page = new_page(browser.new_context(), harness_url(stub, runtime), HARNESS_READY)
            if page.evaluate(LOGIN) != 200:
                raise RuntimeError("body: could not sign in")
            pages[runtime] = page
    runs = {"raw": []}
    for rep in range(settings.reps):
        for runtime, page in pages.items():
            answer = page.evaluate(RAW_BODY, SIZE)
            if (answer["status"], answer["sha256"]) != (200, EXPECTED):
                raise RuntimeError(f"body raw: {answer}")
            runs["raw"].append({"ms": answer["ms"]})
            answer = run_py(page, PY_BODY % {"size": SIZE})
            if (answer["status"], answer["sha256"]) != (200, EXPECTED):
                raise RuntimeError(f"body authfetch-{runtime}: {answer['status']}, sha256 {answer['sha256']}")
            runs.setdefault(f"authfetch-{runtime}", []).append({"ms": answer["post_ms"]})
            runs.setdefault(f"copy-{runtime}", []).append({"ms": answer["copy_ms"]})
        log(f"body rep {rep + 1}/{settings.reps}: " + ", ".join(f"{name} {r[-1]['ms']:.1f} ms" for name, r in runs.items()))
    results["body"] = {"bytes": SIZE, **{name: dict(summarise(r, "ms"), runs=r) for name, r in runs.items()}}
    for page in pages.values():
        page.context.close()
