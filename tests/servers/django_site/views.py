"""The protected resources of each setup: a profile to read and an echo that counts writes."""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import harness
from .auth import SimpleJWTAuthentication

AUTHENTICATION = {"sj": [SimpleJWTAuthentication], "oauth": [OAuth2Authentication]}  # dra: the default


class Profile(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"username": request.user.get_username()})


class Echo(APIView):
    """POST {"id": <int>} -> {"id": id}; each accepted write is counted (a replayed write shows as 2)."""

    permission_classes = [IsAuthenticated]
    kind = None

    def post(self, request):
        ident = request.data.get("id") if hasattr(request.data, "get") else None
        if not isinstance(ident, int) or isinstance(ident, bool):
            return Response({"detail": "id must be an integer"}, status=400)
        harness.count_write(self.kind, ident)
        return Response({"id": ident})


def profile(kind):
    return Profile.as_view(authentication_classes=AUTHENTICATION[kind])


def echo(kind):
    extra = {"authentication_classes": AUTHENTICATION[kind]} if kind in AUTHENTICATION else {}
    return Echo.as_view(kind=kind, **extra)
