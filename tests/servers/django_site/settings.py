"""Settings for the test backend; everything a run varies comes from environment variables.

AUTHFETCH_DJANGO_DB            path of the SQLite file (DjangoProcess makes a temp dir per run)
AUTHFETCH_DJANGO_PAGE_ORIGINS  comma-separated origins the page is served from (CORS, CSRF)
AUTHFETCH_DJANGO_SECRET        signing key (the JWTs are signed with it)
"""

import os
from datetime import timedelta

from corsheaders.defaults import default_headers

PAGE_ORIGINS = [o.strip().rstrip("/") for o in os.environ.get("AUTHFETCH_DJANGO_PAGE_ORIGINS", "").split(",") if o.strip()]

SECRET_KEY = os.environ.get("AUTHFETCH_DJANGO_SECRET", "authfetch-test-only-not-a-secret-0123456789abcdef")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "tests.servers.django_site.urls"
ASGI_APPLICATION = "tests.servers.django_site.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # rotation blacklists the old refresh token
    "dj_rest_auth",
    "oauth2_provider",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",  # first: it answers preflights itself
    "tests.servers.django_site.harness.HarnessMiddleware",  # sees every real call, before the view
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # DRF views are csrf_exempt; dj-rest-auth checks itself
]

TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("AUTHFETCH_DJANGO_DB", "/tmp/authfetch-django.sqlite3"),
        # Under ASGI each sync request runs in its own thread, and the page sends requests at once:
        # WAL, IMMEDIATE transactions and a busy timeout keep SQLite from answering "database is locked".
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
}

# Test-only: the default PBKDF2 costs ~0.3 s per sign-in and the browser tests sign in often.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- CORS and CSRF: the page is served from another port of 127.0.0.1 -------------------------
CORS_ALLOWED_ORIGINS = PAGE_ORIGINS
CORS_ALLOW_CREDENTIALS = True  # dj-rest-auth's cookies ride along (fetch credentials: "include")
CORS_ALLOW_HEADERS = [*default_headers]  # authorization, content-type, x-csrftoken among them
CSRF_TRUSTED_ORIGINS = PAGE_ORIGINS  # the Origin header of the page's POSTs must pass the CSRF check
# csrftoken stays readable by the page (CSRF_COOKIE_HTTPONLY False, SameSite Lax: same site, other port).

# --- Django REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    # dj-rest-auth's documented setup: its cookie authentication is the default, so its own views
    # (login, logout, user) use it. The /sj/ and /oauth/ views name their own class.
    "DEFAULT_AUTHENTICATION_CLASSES": ["tests.servers.django_site.auth.DraCookieAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

REST_AUTH = {
    "USE_JWT": True,
    "TOKEN_MODEL": None,  # JWT only: no rest_framework.authtoken table
    "SESSION_LOGIN": False,
    "JWT_AUTH_HTTPONLY": True,
    "JWT_AUTH_COOKIE": "jwt-access",
    "JWT_AUTH_REFRESH_COOKIE": "jwt-refresh",
    "JWT_AUTH_SECURE": True,  # Chromium keeps Secure cookies from http://127.0.0.1 (a trustworthy origin)
    "JWT_AUTH_SAMESITE": "Lax",
    "JWT_AUTH_COOKIE_USE_CSRF": True,  # a request carrying the access cookie must pass the CSRF check
}

OAUTH2_PROVIDER = {
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # a replayed rotated-out token revokes its whole family
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    "PKCE_REQUIRED": False,  # password grant: no authorization code to protect
}

# DEBUG is off, so Django would print no tracebacks: send server errors to stderr, which
# DjangoProcess captures and shows when something fails. 4xx answers are expected, not logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
