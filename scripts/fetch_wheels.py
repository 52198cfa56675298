"""Download the wheels Pyodide loads from this machine: frontend/wheels.txt into .stamps/wheels/
(listed in index.json, for authfetch.sync.load), and micropip with its dependency into
.stamps/pyodide-extra/ with a lock file that names them (for PyScript's ``packages``).

Pure-Python wheels for Pyodide's Python, with no dependency resolution (every one is pinned).
The npm ``pyodide`` package holds the interpreter only; PyScript installs ``packages`` (our
wheel among them) with micropip, which Pyodide loads by the name in its lock file. The lock
names Pyodide's own build of micropip; PyPI's has the same version and another hash, so the
lock written here is Pyodide's with those two entries pointing at the files beside it.

    python scripts/fetch_wheels.py [destination] [pyodide-extra destination]
"""

import hashlib
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PINS = ROOT / "frontend/wheels.txt"
PYODIDE_LOCK = ROOT / "node_modules/pyodide/pyodide-lock.json"
PYODIDE_PYTHON = "3.14"
MICROPIP = ("micropip", "packaging")  # what PyScript's packages need first, by lock name


def download(requirements, destination):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--platform", "any", "--python-version", PYODIDE_PYTHON, "--implementation", "py",
         *requirements, "-d", str(destination)],
        check=True,
    )


def pyodide_extra(destination):
    """micropip and packaging at the lock's versions, and the lock pointing at them."""
    destination.mkdir(parents=True, exist_ok=True)
    lock = json.loads(PYODIDE_LOCK.read_text())
    download([f"{name}=={lock['packages'][name]['version']}" for name in MICROPIP], destination)
    for name in MICROPIP:
        entry = lock["packages"][name]
        wheel = next(destination.glob(f"{name}-{entry['version']}-*.whl"))
        entry["file_name"] = wheel.name
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (destination / "pyodide-lock.json").write_text(json.dumps(lock))
    print(f"fetch_wheels: micropip for PyScript's packages in {destination}")


def main(destination=ROOT / ".stamps/wheels", extra=ROOT / ".stamps/pyodide-extra"):
    destination = pathlib.Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    download(["-r", str(PINS)], destination)
    wheels = sorted(path.name for path in destination.glob("*.whl"))
    pinned = [line.split("==")[0] for line in PINS.read_text().splitlines() if "==" in line]
    missing = [name for name in pinned if not any(w.lower().startswith(name.replace("-", "_").lower() + "-") for w in wheels)]
    if missing:
        sys.exit(f"fetch_wheels: no wheel for {missing} in {destination}")
    (destination / "index.json").write_text(json.dumps({"wheels": wheels}, indent=2) + "\n")
    print(f"fetch_wheels: {len(wheels)} wheels in {destination}")
    pyodide_extra(pathlib.Path(extra))


if __name__ == "__main__":
    main(*sys.argv[1:])
