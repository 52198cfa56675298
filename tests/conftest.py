import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The library lives under frontend/ (that is what the browser loads); tests import it from there.
sys.path.insert(0, str(ROOT / "frontend"))
sys.path.insert(0, str(ROOT))
