"""The page loads exactly the library's modules, from this machine only."""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import sync_pyscript_files  # noqa: E402


def test_pyscript_configs_list_every_library_module():
    for name in sync_pyscript_files.CONFIGS:
        text = (ROOT / name).read_text()
        assert sync_pyscript_files.files_table() in text, (
            f"{name} [files] is out of date: run python scripts/sync_pyscript_files.py"
        )


def test_embed_loader_lists_every_library_module():
    loader = (ROOT / "frontend/authfetch.js").read_text()
    assert sync_pyscript_files.embed_modules() in loader, "run python scripts/sync_pyscript_files.py"
    assert not re.search(r"https?://", loader), "the loader must not name a CDN"


def test_pyscript_configs_name_local_interpreters():
    assert 'interpreter = "/vendor/micropython/micropython.mjs"' in (ROOT / "pyscript.toml").read_text()
    assert 'interpreter = "/vendor/pyodide/pyodide.mjs"' in (ROOT / "pyscript.py.toml").read_text()
    for name in ("index.html", "pyscript.toml", "pyscript.py.toml"):
        assert not re.search(r"https?://", (ROOT / name).read_text()), f"{name} names a remote URL"


def test_only_the_transport_touches_js():
    for path in (ROOT / "frontend/authfetch").glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
        js_side = imported & {"js", "pyscript", "pyodide"}
        if path.name not in ("transport.py", "bridge.py", "ffi.py"):
            assert not js_side, f"{path.name} imports {js_side}: only transport.py, bridge.py and ffi.py touch JS"


def test_the_engine_flags_are_the_same_numbers_on_both_sides():
    from authfetch import config

    source = (ROOT / "frontend/authfetch/engine.js").read_text()
    declared = {name: int(value) for name, value in re.findall(r"^const ([A-Z]+) = (\d+);", source, re.M)}
    python = {"CREDENTIALED": config.CREDENTIALED, "COORDINATED": config.COORDINATED,
              "RECALLABLE": config.RECALLABLE, "PACED": config.PACED, "ONCE": config.ONCE}
    assert {name: declared.get(name) for name in python} == python
    assert not (config.SIGN_IN | config.SIGN_OUT) & sum(python.values()), "client-only flags must not reach the engine"


def test_the_request_flags_are_the_same_numbers_in_python_and_engine_js():
    from authfetch import config

    engine = (ROOT / "frontend/authfetch/engine.js").read_text()
    declared = dict(re.findall(r"^const ([A-Z]+) = (\d+);", engine, re.M))
    exported = re.search(r"export const FLAGS = \{ (.*) \};", engine).group(1).split(", ")
    assert sorted(exported) == sorted(declared), (exported, declared)
    for name, value in declared.items():
        assert getattr(config, name) == int(value), name


def test_the_keeper_limits_are_the_same_in_wire_js_and_the_message_python_gives():
    from authfetch import models

    source = (ROOT / "frontend/authfetch/wire.js").read_text()
    declared = {name: int(value) for name, value in re.findall(r"^const (MAX_KEPT|KEEP_MS) = (\d+);", source, re.M)}
    assert declared == {"MAX_KEPT": models.MAX_KEPT, "KEEP_MS": models.KEEP_SECONDS * 1000}
