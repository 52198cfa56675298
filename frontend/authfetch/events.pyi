# Type information for authfetch.events (PEP 561 stub; the runtime module stays plain Python).
from typing import Any, Final, Literal, TypeAlias

_EventName: TypeAlias = Literal["refresh-start", "refresh", "refresh-failed", "session-expired", "no-session", "replay", "request"]

EVENT_NAMES: Final[tuple[_EventName, ...]]

class Event:
    name: str
    fields: dict[str, Any]
    def __init__(self, name: str, **fields: Any) -> None: ...
    # Each field is also an attribute (event.generation, event.ident, event.phase...), set at
    # run time from the keywords; which ones depend on the event's name.
    def __getattr__(self, field: str) -> Any: ...
