"""The authfetch stub backend: a small but honest token server for demos and end-to-end tests.

Routes follow the Express tutorial backend that authfetch answers (same JSON envelope), token
behaviour follows RFC 9700 and the OWASP session and CSRF cheat sheets: short-lived JWT access
tokens, opaque rotating refresh tokens with reuse detection, HttpOnly/Secure/SameSite cookies and a
signed double-submit CSRF token.  ``build_app(Settings(...))`` gives the Starlette app.
"""

from .settings import Settings
from .app import build_app

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
