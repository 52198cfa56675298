# Type information for authfetch.sync (PEP 561 stub; the runtime module stays plain Python).
from collections.abc import Callable
from typing import Any, Final

from .client import AuthClient

WHEELS_INDEX: Final = "index.json"

async def load(base_url: str) -> list[str]: ...

# pyodide-http's send(request, stream=False), through the client: its Request in, its Response out.
def install(api: AuthClient) -> Callable[..., Any]: ...
