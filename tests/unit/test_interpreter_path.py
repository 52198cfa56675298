"""Where the one tag looks for its interpreter (frontend/authfetch/where.js), by how it was
installed: beside it (make dist's embed/), one folder up inside node_modules/ (npm), or at the
pinned version on a CDN that mirrors npm, never at whatever version is newest."""

import json
import pathlib
import shutil
import subprocess

import pytest

WHERE = (pathlib.Path(__file__).resolve().parents[2] / "frontend/authfetch/where.js").as_uri()
PINS = {"@micropython/micropython-webassembly-pyscript": "1.28.0-6", "pyodide": "314.0.5"}
CASES = [
    # (layout, runtime, the tag's folder) -> the interpreter's URL
    ("embed", "mpy", "https://site.test/assets/authfetch/", "https://site.test/assets/authfetch/micropython/micropython.mjs"),
    ("embed", "py", "https://site.test/assets/authfetch/", "https://site.test/assets/authfetch/pyodide/pyodide.mjs"),
    ("npm", "mpy", "https://site.test/node_modules/authfetch/",
     "https://site.test/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"),
    ("npm", "py", "https://site.test/static/node_modules/authfetch/", "https://site.test/static/node_modules/pyodide/pyodide.mjs"),
    ("npm", "py", "https://cdn.jsdelivr.net/npm/authfetch@0.3.0/", "https://cdn.jsdelivr.net/npm/pyodide@314.0.5/pyodide.mjs"),
    ("npm", "py", "https://cdn.jsdelivr.net/npm/authfetch/", "https://cdn.jsdelivr.net/npm/pyodide@314.0.5/pyodide.mjs"),
    ("npm", "mpy", "https://unpkg.com/authfetch@0.3.0/",
     "https://unpkg.com/@micropython/micropython-webassembly-pyscript@1.28.0-6/micropython.mjs"),
]


def resolve(cases, pins):
    node = shutil.which("node")
    assert node, "Node.js is needed to run where.js"
    script = f"""import {{ interpreterPath }} from {json.dumps(WHERE)};
        console.log(JSON.stringify({json.dumps(cases)}.map(([layout, runtime, here]) => {{
            try {{ return new URL(interpreterPath(runtime, here, {{layout, pins: {json.dumps(pins)}}}), here).href; }}
            catch (error) {{ return "error: " + error.message; }}
        }})));"""
    out = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_the_tag_finds_its_interpreter_where_its_layout_puts_it(index):
    layout, runtime, here, expected = CASES[index]
    assert resolve([CASES[index][:3]], PINS) == [expected]


def test_an_npm_copy_without_its_pins_refuses_rather_than_load_the_newest():
    [answer] = resolve([("npm", "py", "https://cdn.test/npm/authfetch@0.3.0/")], {})
    assert answer.startswith("error: ") and "pyodide" in answer, answer
