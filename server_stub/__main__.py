"""``python -m server_stub``: start the stub backend and print where it listens."""

import argparse
import sys

import uvicorn

from . import DEMO_PASSWORD, DEMO_USER, build_app
from .settings import (
    DEFAULT_ACCESS_TTL,
    DEFAULT_GRACE,
    DEFAULT_REFRESH_ABSOLUTE,
    DEFAULT_REFRESH_IDLE,
    Settings,
)
from .tls import throwaway_certificate


def _seconds(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m server_stub", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--access-ttl", type=_seconds, default=DEFAULT_ACCESS_TTL)
    p.add_argument("--refresh-idle", type=_seconds, default=DEFAULT_REFRESH_IDLE)
    p.add_argument("--refresh-absolute", type=_seconds, default=DEFAULT_REFRESH_ABSOLUTE)
    p.add_argument("--grace", type=_seconds, default=DEFAULT_GRACE, help="refresh reuse grace window, seconds (0: off)")
    p.add_argument("--csrf", choices=("on", "off"), default="on")
    p.add_argument("--test-controls", action="store_true", help="enable the /__stub__/ routes (tests only)")
    p.add_argument("--cors-origin", action="append", default=[], help="origin allowed to call cross-origin (repeatable)")
    p.add_argument(
        "--isolation",
        choices=("on", "off"),
        default="on",
        help="send COOP/COEP headers so PyScript workers can reach the page (default on)",
    )
    p.add_argument("--csp", help="send this Content-Security-Policy with every HTML page (default: none)")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a throw-away certificate made at start (its CA is printed for clients to trust): "
        "cookies as production sets them (WebKit keeps no Secure cookie over plain http://127.0.0.1)",
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings(
            access_ttl=args.access_ttl,
            refresh_idle=args.refresh_idle,
            refresh_absolute=args.refresh_absolute,
            grace=args.grace,
            csrf=args.csrf == "on",
            test_controls=args.test_controls,
            cors_origins=args.cors_origin,
            isolation=args.isolation == "on",
            csp=args.csp,
        )
    except ValueError as error:
        sys.exit(f"server_stub: {error}")
    tls = {}
    authority = None
    if args.tls:
        key, chain, authority = throwaway_certificate(args.host)
        tls = {"ssl_keyfile": key, "ssl_certfile": chain}
    config = uvicorn.Config(build_app(settings), host=args.host, port=args.port, http="h11", log_level="warning", **tls)
    server = uvicorn.Server(config)

    # Print the real URL once the socket is bound (the port may have been 0).
    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets=sockets)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else args.port
        if authority:
            print(f"tls certificate authority: {authority}", flush=True)
        print(f"authfetch stub listening on {'https' if args.tls else 'http'}://{args.host}:{port}/", flush=True)
        print(f"demo account: {DEMO_USER} / {DEMO_PASSWORD}", flush=True)

    server.startup = startup
    server.run()


if __name__ == "__main__":
    main()
