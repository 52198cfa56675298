"""What ``make dist`` writes (issue 13): a pure-Python wheel with every module and the engine,
its version from the one place, and a one-tag folder with everything the tag loads."""

import email.parser
import pathlib
import re
import zipfile

import pytest
import trove_classifiers

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
PACKAGE = ROOT / "frontend/authfetch"
VERSION = re.search(r'^__version__ = "([^"]+)"', (PACKAGE / "__init__.py").read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def wheel():
    path = DIST / f"authfetch-{VERSION}-py3-none-any.whl"
    if not path.exists():
        pytest.fail(f"{path.name} is missing: `make test` runs `make dist` first")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_wheel_holds_every_module_the_engine_the_license_and_the_types(wheel):
    names = set(wheel.namelist())
    # The types (issue 22): the stubs beside the modules and PEP 561's py.typed marker.
    expected = {f"authfetch/{p.name}" for p in PACKAGE.iterdir() if p.suffix in (".py", ".js", ".pyi") or p.name == "py.typed"}
    assert expected <= names, expected - names
    assert "authfetch/LICENSE" in names
    # PyScript's MicroPython unpacks a wheel one directory level per file: nothing nested deeper.
    assert all(name.count("/") == 1 for name in names), sorted(n for n in names if n.count("/") != 1)
    for name in expected:
        assert wheel.read(name) == (PACKAGE / name.split("/", 1)[1]).read_bytes(), f"{name} is stale: run make dist"


def test_the_wheel_metadata_names_the_version_license_and_no_dependencies_or_extras(wheel):
    info = f"authfetch-{VERSION}.dist-info/"
    metadata = email.parser.Parser().parsestr(wheel.read(info + "METADATA").decode())
    assert metadata["Name"] == "authfetch" and metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "MIT"
    # Installs in the browser with nothing else, and offers no extras: the project's development
    # needs (the stub, the tests, the benchmark) are dependency groups, not the package's.
    assert metadata.get_all("Requires-Dist") is None, metadata.get_all("Requires-Dist")
    assert metadata.get_all("Provides-Extra") is None, metadata.get_all("Provides-Extra")
    assert "Root-Is-Purelib: true" in wheel.read(info + "WHEEL").decode()
    classifiers = metadata.get_all("Classifier")
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert not unknown, f"not PyPI classifiers: {unknown}"
    assert "Environment :: WebAssembly :: Emscripten" in classifiers


def test_the_configs_install_the_wheel_beside_them():
    for runtime in ("pyodide", "micropython"):
        text = (DIST / f"pyscript.{runtime}.toml").read_text()
        assert f'packages = ["./authfetch-{VERSION}-py3-none-any.whl"]' in text, text


def test_the_tag_folder_holds_what_the_tag_loads():
    folder = DIST / "embed"
    tag = (folder / "authfetch.js").read_text()
    modules = re.search(r"/\* modules \*/(.*?)/\* end \*/", tag).group(1)
    for name in re.findall(r'"([^"]+)"', modules) + ["engine.js", "wire.js", "routes.js", "where.js"]:
        assert (folder / "authfetch" / name).read_bytes() == (PACKAGE / name).read_bytes(), name
    assert not (folder / "authfetch/testing.py").exists()
    for path in ("LICENSE", "micropython/micropython.mjs", "micropython/micropython.wasm", "pyodide/pyodide.mjs",
                 "pyodide/pyodide.asm.mjs",
                 "pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip", "pyodide/pyodide-lock.json"):
        assert (folder / path).stat().st_size > 0, path


def test_the_npm_package_is_the_tag_with_the_interpreters_as_its_pinned_dependencies():
    import json
    import tarfile

    path = DIST / f"authfetch-{VERSION}.tgz"
    if not path.exists():
        pytest.fail(f"{path.name} is missing: `make test` runs `make dist` first")
    with tarfile.open(path) as archive:
        files = {member.name.removeprefix("package/"): archive.extractfile(member).read()
                 for member in archive.getmembers() if member.isfile()}
    manifest = json.loads(files["package.json"])
    assert manifest["name"] == "authfetch" and manifest["version"] == VERSION and manifest["license"] == "MIT"
    assert manifest["exports"]["."] == "./authfetch.js"
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    wanted = ("@micropython/micropython-webassembly-pyscript", "pyodide")
    assert manifest["dependencies"] == {name: pins[name] for name in wanted}, manifest["dependencies"]
    # The tag looks for the interpreters as npm dependencies, by the versions it depends on.
    where = files["authfetch/where.js"].decode()
    assert '/* layout */"npm"/* end */' in where
    assert f"/* pins */{json.dumps(manifest['dependencies'])}/* end */" in where
    source = (PACKAGE / "where.js").read_text()
    assert where.replace('"npm"/* end */', '"embed"/* end */', 1).replace(json.dumps(manifest["dependencies"]), "{}") == source
    assert files["authfetch.js"] == (ROOT / "frontend/authfetch.js").read_bytes()
    # The same package for the page as the embed folder (where.js aside), no interpreter copies,
    # a README of its own that installs what make dist wrote.
    embed = {f"authfetch/{p.name}": p.read_bytes() for p in (DIST / "embed/authfetch").iterdir()}
    mine = {name: body for name, body in files.items() if name.startswith("authfetch/")}
    assert mine.keys() == embed.keys() and all(mine[n] == embed[n] for n in mine if n != "authfetch/where.js")
    assert set(files) == {"package.json", "authfetch.js", "LICENSE", "README.md", *embed}, sorted(files)
    assert b"npm install path/to/dist/authfetch-<version>.tgz" in files["README.md"]


def test_the_long_description_names_this_version_and_links_nothing_relative(wheel):
    # The README is the wheel's long description: on an index page a relative link or picture
    # (docs/x.png, #a-heading) leads nowhere, and a stale file name misleads.
    info = f"authfetch-{VERSION}.dist-info/"
    description = email.parser.Parser().parsestr(wheel.read(info + "METADATA").decode()).get_payload()
    assert description.startswith("# authfetch"), description[:200]
    relative = [m.group(0) for m in re.finditer(r"\]\((?!https?://)[^)]*\)", description)]
    assert not relative, f"relative links in the long description: {relative}"
    named = set(re.findall(r"authfetch[-@](\d+\.\d+\.\d+)", description))
    assert named == {VERSION}, f"the README names versions {named}, the package is {VERSION}"
