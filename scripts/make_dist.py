"""``make dist``: what a project installs authfetch from, in dist/.

- ``authfetch-<version>-py3-none-any.whl``: the package (its .py modules, the engine's two
  .js files, and the type information: the .pyi stubs and py.typed), built by setuptools from
  pyproject.toml, the version from authfetch.__version__.
- ``pyscript.pyodide.toml`` and ``pyscript.micropython.toml``: PyScript configs that install
  it from the wheel beside them (``packages``: PyScript hands a wheel to micropip on Pyodide
  and unpacks it on MicroPython), with the interpreter this project's server has.
- ``embed/``: the one tag, self-contained: ``authfetch.js``, ``authfetch/`` (the package for
  the page), ``micropython/`` and ``pyodide/`` (the pinned interpreters). Copy the folder under
  any static path of any server and point the tag at ``<that path>/authfetch.js``.
- ``authfetch-<version>.tgz``: the one tag as an npm package (``npm pack``): the tag, the
  package for the page, the license and a README of its own, with the interpreters as its
  ``dependencies`` (the versions this project pins), which the tag finds where npm puts them.

    python scripts/make_dist.py
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
sys.path.insert(0, str(ROOT / "scripts"))

from sync_pyscript_files import library_files  # noqa: E402

INTERPRETERS = {
    "micropython": (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript", ("micropython.mjs", "micropython.wasm")),
    "pyodide": (ROOT / "node_modules/pyodide", ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")),
}
CONFIG = """# authfetch for a PyScript page on {name}, installed from the wheel beside this file.
# Copy the packages line into your page's config (its URL is relative to the config's).
interpreter = "{interpreter}"  # where this project's server has {name}; keep yours
packages = ["./{wheel}"]
"""


def version():
    text = (ROOT / "frontend/authfetch/__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def wheel():
    # --no-isolation: the venv has the pinned setuptools (pyproject's test dependency group), so the
    # build needs no download and gives the same wheel every time.
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(DIST), str(ROOT)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    built = DIST / f"authfetch-{version()}-py3-none-any.whl"
    if not built.exists():
        sys.exit(f"make_dist: {built.name} was not built")
    return built.name


def embed():
    folder = DIST / "embed"
    shutil.copy(ROOT / "frontend/authfetch.js", folder / "authfetch.js")
    shutil.copy(ROOT / "frontend/authfetch/LICENSE", folder / "LICENSE")
    package = folder / "authfetch"
    package.mkdir()
    library = ROOT / "frontend/authfetch"
    # The modules the tag loads (its MODULES list is made from the same list) and the engine.
    for name in library_files() + sorted(path.name for path in library.glob("*.js")):
        shutil.copy(library / name, package / name)
    for name, (source, files) in INTERPRETERS.items():
        (folder / name).mkdir()
        for file in files:
            shutil.copy(source / file, folder / name / file)


NPM_FILES = ["authfetch.js", "authfetch/", "LICENSE", "README.md"]
WHERE = ROOT / "frontend/authfetch/where.js"  # the tag's interpreter paths, by layout


def marked(text, name, value):
    """``text`` with the value between its ``/* name */`` and ``/* end */`` replaced (a build-time constant)."""
    pattern = re.compile(r"/\* %s \*/.*?/\* end \*/" % name)
    if len(pattern.findall(text)) != 1:
        sys.exit(f"make_dist: {WHERE.name} should mark its {name} once")
    return pattern.sub(lambda _: f"/* {name} */{value}/* end */", text)


def npm_package():
    """dist/authfetch-<version>.tgz, packed by npm from a folder laid out as the package."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version()):
        sys.exit(f"make_dist: {version()!r} is no npm version (x.y.z); give the npm package one")
    folder = DIST / "npm"
    (folder / "authfetch").mkdir(parents=True)
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    where = WHERE.read_text()
    names = re.findall(r'npm: "([^"]+)"', where)  # the interpreters' npm names, as the tag knows them
    depends = {name: pins[name] for name in names}
    manifest = {
        "name": "authfetch",
        "version": version(),
        "description": "One tag keeps a page's users signed in: one refresh for any number of 401s, requests held and replayed.",
        "license": "MIT",
        "type": "module",
        "browser": "./authfetch.js",
        "exports": {".": "./authfetch.js", "./authfetch.js": "./authfetch.js", "./authfetch/*": "./authfetch/*",
                    "./package.json": "./package.json"},
        "files": NPM_FILES,
        "dependencies": depends,
        "keywords": ["fetch", "refresh token", "jwt", "authentication", "pyscript", "micropython", "pyodide"],
    }
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copy(ROOT / "frontend/authfetch.js", folder / "authfetch.js")
    shutil.copy(ROOT / "frontend/authfetch/LICENSE", folder / "LICENSE")
    shutil.copy(ROOT / "frontend/npm/README.md", folder / "README.md")
    for path in (DIST / "embed/authfetch").iterdir():  # the same files as the embed folder's...
        shutil.copy(path, folder / "authfetch" / path.name)
    # ...but where.js, which looks for the interpreters as npm dependencies, by these versions
    (folder / "authfetch/where.js").write_text(marked(marked(where, "layout", '"npm"'), "pins", json.dumps(depends)))
    out = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(DIST)], cwd=folder, check=True,
                         capture_output=True, text=True)
    shutil.rmtree(folder)
    return json.loads(out.stdout)[0]["filename"]


def main():
    shutil.rmtree(DIST, ignore_errors=True)
    (DIST / "embed").mkdir(parents=True)
    name = wheel()
    for runtime, interpreter in (("pyodide", "/vendor/pyodide/pyodide.mjs"),
                                 ("micropython", "/vendor/micropython/micropython.mjs")):
        label = "Pyodide" if runtime == "pyodide" else "MicroPython"
        (DIST / f"pyscript.{runtime}.toml").write_text(CONFIG.format(name=label, interpreter=interpreter, wheel=name))
    embed()
    tarball = npm_package()
    print(f"make_dist: {DIST}: {name}, pyscript.pyodide.toml, pyscript.micropython.toml, embed/, {tarball}")


if __name__ == "__main__":
    main()
