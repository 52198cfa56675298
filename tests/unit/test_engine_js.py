"""engine.js on its own, under Node.js's test runner (tests/engine/engine.test.mjs)."""

import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_engine_mechanics_under_node():
    node = shutil.which("node")
    assert node, "Node.js is needed to run engine.js outside the browser"
    done = subprocess.run(
        [node, "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", "--test", str(ROOT / "tests/engine")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "# fail 0" in output and "# pass 0" not in output, output[-4000:]
