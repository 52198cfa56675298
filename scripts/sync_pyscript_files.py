"""Rewrite the module lists (the [files] table of pyscript.toml and pyscript.py.toml, MODULES in
frontend/authfetch.js) from frontend/authfetch/.

Run after adding or removing a library module; tests/unit/test_layout.py fails until you do.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = ("pyscript.toml", "pyscript.py.toml")
NOT_IN_PAGE = {"testing.py"}  # the fake transport: for tests, not loaded in the page


def library_files():
    return sorted(p.name for p in (ROOT / "frontend/authfetch").glob("*.py") if p.name not in NOT_IN_PAGE)


def files_table():
    lines = [f'"/frontend/authfetch/{name}" = "./authfetch/{name}"' for name in library_files()]
    return "[files]\n" + "\n".join(lines) + "\n"


def embed_modules():
    return "/* modules */" + ", ".join(f'"{name}"' for name in library_files()) + "/* end */"


def main():
    for name in CONFIGS:
        path = ROOT / name
        text = path.read_text()
        path.write_text(re.sub(r"\[files\]\n(?:.+\n)*", files_table(), text))
        print(f"updated {name}")
    loader = ROOT / "frontend/authfetch.js"
    loader.write_text(re.sub(r"/\* modules \*/.*/\* end \*/", embed_modules(), loader.read_text()))
    print("updated frontend/authfetch.js")


if __name__ == "__main__":
    main()
