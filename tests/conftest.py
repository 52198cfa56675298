import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The library lives under frontend/ (that is what the browser loads); tests import it from there.
sys.path.insert(0, str(ROOT / "frontend"))
sys.path.insert(0, str(ROOT))

# tests/portable/ holds plain async test functions for three interpreters; pytest reaches them
# through tests/unit/test_client_portable.py and tests/unit/test_portable_interpreters.py.
collect_ignore = ["portable"]
