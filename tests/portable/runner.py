"""Runs every ``async def test_*`` of a module and prints one line per test, then a summary.

Used under MicroPython and Pyodide in Node.js, where pytest does not exist.
"""

import sys


async def run_all(module, only=None):
    names = sorted(name for name in dir(module) if name.startswith("test_"))
    passed, failed = 0, []
    for name in names:
        if only and only not in name:
            continue
        try:
            await getattr(module, name)()
            passed += 1
            print("PASS " + name)
        except Exception as error:
            failed.append(name)
            print("FAIL " + name + ": " + repr(error))
            if hasattr(sys, "print_exception"):
                sys.print_exception(error)
            else:
                import traceback

                traceback.print_exception(error)
    print("PORTABLE-SUMMARY passed=%d failed=%d" % (passed, len(failed)))
    return len(failed)
