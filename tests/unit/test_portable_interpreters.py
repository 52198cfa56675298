"""The same client tests under real MicroPython and real Pyodide (Node.js, pinned npm packages)."""

import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("runtime", ["mpy", "py"])
def test_client_suite_under(runtime):
    node = shutil.which("node")
    assert node, "Node.js is needed to run the interpreters outside the browser"
    done = subprocess.run(
        [node, "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", str(ROOT / "tests/portable/run_node.mjs"), runtime],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    output = done.stdout + done.stderr
    summary = re.search(r"PORTABLE-SUMMARY passed=(\d+) failed=(\d+)", output)
    assert summary, output[-3000:]
    passed, failed = int(summary.group(1)), int(summary.group(2))
    assert failed == 0 and done.returncode == 0, output[-3000:]
    assert passed >= 20, output[-3000:]
