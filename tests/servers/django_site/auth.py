"""The libraries' authentication classes, plus the harness's expiry mark (see harness.expire)."""

from django.utils.translation import gettext_lazy as _
from dj_rest_auth.jwt_auth import JWTCookieAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from . import harness


class _ExpiryMark:
    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)  # the library's own checks first
        mark = harness.expired_before()
        if mark is not None and token.get("iat", 0) < mark:
            # The same answer Simple JWT gives for an access token past its exp.
            raise InvalidToken(
                {
                    "detail": _("Given token not valid for any token type"),
                    "messages": [{"token_class": "AccessToken", "token_type": "access", "message": _("Token is expired")}],
                }
            )
        return token


class SimpleJWTAuthentication(_ExpiryMark, JWTAuthentication):
    """/sj/: Authorization: Bearer <access>."""


class DraCookieAuthentication(_ExpiryMark, JWTCookieAuthentication):
    """/dra/: the jwt-access cookie (or a Bearer header), with dj-rest-auth's CSRF check."""
