"""A real Django backend for the browser tests: three authentication setups in one project.

- ``/sj/``: Simple JWT, the refresh token travels in the JSON body;
- ``/dra/``: dj-rest-auth with USE_JWT and HttpOnly cookies, Django's CSRF check on unsafe calls;
- ``/o/`` and ``/oauth/``: django-oauth-toolkit as an OAuth 2.0 provider (password grant).

``/__harness__/`` holds the test controls (expire, reset, stats). Start it with
``python -m tests.servers.django_site --port 0`` (tests use ``tests.support.django_process``).
"""
