"""Stub settings: one object, keyword-only, with the defaults the CLI documents."""

DEFAULT_ACCESS_TTL = 60.0  # seconds; short so the demo shows refreshes
DEFAULT_REFRESH_IDLE = 24 * 3600.0
DEFAULT_REFRESH_ABSOLUTE = 7 * 24 * 3600.0
DEFAULT_GRACE = 0.0  # reuse grace window off: the strict RFC 9700 behaviour
MAX_BODY_BYTES = 1024 * 1024


class Settings:
    def __init__(
        self,
        *,
        access_ttl=DEFAULT_ACCESS_TTL,
        refresh_idle=DEFAULT_REFRESH_IDLE,
        refresh_absolute=DEFAULT_REFRESH_ABSOLUTE,
        grace=DEFAULT_GRACE,
        csrf=True,
        test_controls=False,
        cors_origins=(),
        isolation=True,
        csp=None,
        app_root=None,
        docs_dir=None,
    ):
        for name, value in (
            ("access_ttl", access_ttl),
            ("refresh_idle", refresh_idle),
            ("refresh_absolute", refresh_absolute),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if grace < 0:
            raise ValueError(f"grace must be >= 0, got {grace!r}")
        self.access_ttl = float(access_ttl)
        self.refresh_idle = float(refresh_idle)
        self.refresh_absolute = float(refresh_absolute)
        self.grace = float(grace)
        self.csrf = bool(csrf)
        self.test_controls = bool(test_controls)
        # Origins allowed to call this stub cross-origin (used to play "a second origin" in tests).
        self.cors_origins = tuple(cors_origins)
        # Cross-origin isolation (COOP/COEP): a PyScript worker reaches the page's document (and so
        # the CSRF cookie) only through SharedArrayBuffer, which browsers give isolated pages only.
        self.isolation = bool(isolation)
        # A Content-Security-Policy for every page (HTML) it serves: shows which policy a page
        # using authfetch needs (README, tests/browser/test_csp.py).
        if csp is not None and (not isinstance(csp, str) or not csp.strip() or "\n" in csp):
            raise ValueError(f"csp must be a one-line policy, got {csp!r}")
        self.csp = csp
        self.app_root = app_root
        # The documentation site served at /docs/: make docs builds it into <app root>/site/ (None),
        # or a directory of its own (the tests build one into a temporary directory).
        self.docs_dir = docs_dir
