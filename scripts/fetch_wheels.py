"""Download the wheels of frontend/wheels.txt into .stamps/wheels/ and list them in index.json.

Pure-Python wheels for Pyodide's Python, with no dependency resolution (every one is pinned):
the stub serves the folder at /vendor/wheels/, and authfetch.sync.load() reads index.json.

    python scripts/fetch_wheels.py [destination]
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PINS = ROOT / "frontend/wheels.txt"
PYODIDE_PYTHON = "3.14"


def main(destination=ROOT / ".stamps/wheels"):
    destination = pathlib.Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--platform", "any", "--python-version", PYODIDE_PYTHON, "--implementation", "py",
         "-r", str(PINS), "-d", str(destination)],
        check=True,
    )
    wheels = sorted(path.name for path in destination.glob("*.whl"))
    pinned = [line.split("==")[0] for line in PINS.read_text().splitlines() if "==" in line]
    missing = [name for name in pinned if not any(w.lower().startswith(name.replace("-", "_").lower() + "-") for w in wheels)]
    if missing:
        sys.exit(f"fetch_wheels: no wheel for {missing} in {destination}")
    (destination / "index.json").write_text(json.dumps({"wheels": wheels}, indent=2) + "\n")
    print(f"fetch_wheels: {len(wheels)} wheels in {destination}")


if __name__ == "__main__":
    main(*sys.argv[1:])
