"""``python -m tests.servers.django_site --port 0``: migrate, seed the demo data, serve with uvicorn.

Prints ``authfetch django listening on http://HOST:PORT/`` once the socket is bound (https with ``--tls``).
"""

import argparse
import os
import sys

DEMO_USER = DEMO_PASSWORD = "demo"
CLIENT_ID = "authfetch-spa"


def seed():
    """The demo user and the page's public OAuth client (idempotent)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import Application

    User = get_user_model()
    if not User.objects.filter(username=DEMO_USER).exists():
        User.objects.create_user(DEMO_USER, password=DEMO_PASSWORD)
    Application.objects.get_or_create(
        client_id=CLIENT_ID,
        defaults={
            "name": "authfetch SPA",
            "client_type": Application.CLIENT_PUBLIC,  # a browser page keeps no secret
            "authorization_grant_type": Application.GRANT_PASSWORD,
            "client_secret": "",
            "hash_client_secret": False,
            "allowed_origins": " ".join(settings.PAGE_ORIGINS),
        },
    )


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.servers.django_site", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--no-setup", action="store_true", help="skip migrate and seeding")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a throw-away certificate (as the stub's --tls)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.servers.django_site.settings")
    import django

    django.setup()
    if not args.no_setup:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        seed()

    import uvicorn

    from .asgi import application

    tls, authority = {}, None
    if args.tls:
        from server_stub.tls import throwaway_certificate

        key, chain, authority = throwaway_certificate(args.host)
        tls = {"ssl_keyfile": key, "ssl_certfile": chain}
    # One worker: the harness counters live in this process's memory. Django speaks no lifespan.
    config = uvicorn.Config(application, host=args.host, port=args.port, http="h11", lifespan="off", log_level="warning", **tls)
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets=sockets)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else args.port
        if authority:
            print(f"tls certificate authority: {authority}", flush=True)
        print(f"authfetch django listening on {'https' if args.tls else 'http'}://{args.host}:{port}/", flush=True)

    server.startup = startup
    server.run()


if __name__ == "__main__":
    main()
