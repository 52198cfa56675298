"""Type information (issue 22): ``py.typed`` and ``.pyi`` stubs beside the modules, held to what
the modules do and to what the README shows.

- mypy, as pyproject.toml's [tool.mypy] configures it, passes over the package (the stubs
  strictly; the internal, unannotated modules for what mypy can infer);
- every ```python example of the README and the docs site that is authfetch code type-checks against the stubs
  (the rest are skipped by name, with the reason);
- mypy.stubtest finds the stubs consistent with the modules, so neither can drift alone;
- typing_cases.py holds what the stubs say calls return (assert_type, for mypy), and running
  it with the fake transport shows the modules return just that (stubtest compares signatures,
  not what unannotated code returns).

The runtime modules import no ``typing`` (MicroPython has none): the stubs carry the types.
"""

import ast
import asyncio
import importlib.util
import inspect
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import threading

from authfetch import AuthClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "frontend/authfetch"
CONFIG = ROOT / "pyproject.toml"
ALLOWLIST = pathlib.Path(__file__).with_name("stubtest_allowlist.txt")

# A README block holding one of these is not authfetch client code: it is not type-checked.
SKIPPED = {
    "INSTALLED_APPS": "a Django project's settings.py and urls.py: the server side of a recipe",
}
# The README's later examples go on from its first ones, which import these.
PRELUDE = "from authfetch import AuthClient, Server\n"
WRAPPER = "async def _example() -> None:  # PyScript runs a script's top-level await\n"


def run(*command, cwd, env=None):
    environment = {key: value for key, value in os.environ.items() if key not in ("MYPYPATH", "PYTHONPATH")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, env=environment, capture_output=True, text=True)


def report(result):
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_mypy_passes_over_the_package_as_configured(tmp_path):
    result = run("mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"), cwd=ROOT)
    assert result.returncode == 0, report(result)
    # The configured files are the whole package: a stub shadows its module, so one file each.
    modules = {path.stem for path in PACKAGE.iterdir() if path.suffix in (".py", ".pyi")}
    assert f"no issues found in {len(modules)} source files" in result.stdout, report(result)


# Where users read examples: the README and the docs site's pages.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def readme_examples():
    """("file:line", source) of each ```python block of the README and the docs."""
    for document in DOCUMENTS:
        text = document.read_text()
        for match in re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S):
            where = f"{document.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 2}"
            yield where, match.group(1)


def as_module(source):
    """The example as a module mypy can check: with PyScript's top-level await (a coroutine's
    code when compiled with it allowed), its body is an async function's."""
    code = compile(source, "<README>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        return PRELUDE + WRAPPER + textwrap.indent(source, "    ")
    return PRELUDE + source


def test_the_readme_examples_type_check_against_the_stubs(tmp_path):
    package = tmp_path / "readme_examples"
    package.mkdir()
    (package / "__init__.py").write_text("")
    checked, skipped = [], {}
    for line, source in readme_examples():
        reason = next((why for marker, why in SKIPPED.items() if marker in source), None)
        if reason is not None:
            skipped.setdefault(reason, []).append(line)
            continue
        name = re.sub(r"[^A-Za-z0-9]+", "_", line)
        (package / f"ex_{name}.py").write_text(f"# {line}: the example there\n" + as_module(source))
        checked.append(line)
    assert len(skipped) == len(SKIPPED), f"a skip reason no block has any more: {set(SKIPPED.values()) - set(skipped)}"
    assert any("api.get(" in source for _, source in readme_examples()) and checked, "no README example was found"
    # Examples are unannotated like a page's code, yet checked in full (check_untyped_defs).
    result = run(
        "mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"),
        "--allow-untyped-defs", "--allow-incomplete-defs", "--allow-untyped-calls", "--check-untyped-defs",
        str(package), cwd=tmp_path,
    )
    sources = "\n".join(
        f"--- {path.name}\n" + "\n".join(f"{n:3} {text}" for n, text in enumerate(path.read_text().splitlines(), 1))
        for path in sorted(package.glob("ex_*.py"))
    )
    assert result.returncode == 0, f"{report(result)}\nchecked {checked}, skipped {skipped}\n{sources}"
    assert f"no issues found in {len(checked) + 1} source files" in result.stdout, report(result)


def test_stubtest_finds_the_stubs_consistent_with_the_modules(tmp_path):
    # The stubs on their own (the modules import from frontend/): stubtest compares exactly them,
    # and the internal modules, which have none, are named in the allowlist.
    stubs = tmp_path / "stubs/authfetch"
    stubs.mkdir(parents=True)
    for path in [*PACKAGE.glob("*.pyi"), PACKAGE / "py.typed"]:
        shutil.copy(path, stubs / path.name)
    result = run(
        "mypy.stubtest", "--allowlist", str(ALLOWLIST), "authfetch",
        cwd=tmp_path, env={"MYPYPATH": str(tmp_path / "stubs"), "PYTHONPATH": str(ROOT / "frontend")},
    )
    assert result.returncode == 0, report(result)


def test_the_package_is_marked_typed_and_its_modules_import_no_typing():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "__init__.pyi").is_file()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not {name.split(".")[0] for name in names} & {"typing", "typing_extensions"}, (
                f"{path.name} imports typing: MicroPython has none, the types go in {path.stem}.pyi"
            )


def test_the_stubs_say_what_the_modules_give(tmp_path):
    """typing_cases.py: its assert_types hold for mypy, and its values are of those types."""
    cases = pathlib.Path(__file__).with_name("typing_cases.py")
    result = run("mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"), str(cases), cwd=ROOT)
    assert result.returncode == 0, report(result)

    from authfetch.testing import FakeTransport, reply

    spec = importlib.util.spec_from_file_location("typing_cases", cases)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def handler(sent):
        if sent.url.endswith("/missing"):
            return reply(404, json={"detail": "not found"})
        return reply(200, json={"data": {"accessToken": "a.b.c"}}, headers={"Content-Type": "application/json"})

    api = AuthClient("https://app.test/api/", refresh_url="/api/types-refresh", transport=FakeTransport(handler))
    # In a thread of its own: in the whole suite an earlier test (Playwright's sync API) leaves
    # an event loop running in this one, where asyncio.run refuses.
    failures = []

    def run_cases():
        try:
            asyncio.run(module.cases(api))
        except BaseException as error:  # handed to the test's thread, which fails with it
            failures.append(error)

    worker = threading.Thread(target=run_cases)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "typing_cases did not finish in 60 s"
    if failures:
        raise failures[0]
