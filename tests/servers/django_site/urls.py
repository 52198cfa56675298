from dj_rest_auth.views import LoginView
from django.urls import include, path
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from . import harness, views

urlpatterns = [
    # 1. Simple JWT, the refresh token in the JSON body.
    path("sj/token/", TokenObtainPairView.as_view()),
    path("sj/token/refresh/", TokenRefreshView.as_view()),
    path("sj/token/blacklist/", TokenBlacklistView.as_view()),
    path("sj/profile/", views.profile("sj")),
    path("sj/echo/", views.echo("sj")),
    # 2. dj-rest-auth, HttpOnly JWT cookies. Its login answer also sets Django's csrftoken cookie
    # (readable by the page) so the page has the value to send as X-CSRFToken; before the include,
    # so it wins over the include's own login/.
    path("dra/login/", ensure_csrf_cookie(LoginView.as_view())),
    path("dra/echo/", views.echo("dra")),
    path("dra/", include("dj_rest_auth.urls")),  # logout/, user/, token/refresh/, token/verify/, ...
    # 3. django-oauth-toolkit: /o/token/, /o/revoke_token/, ...; the resources under /oauth/.
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("oauth/profile/", views.profile("oauth")),
    path("oauth/echo/", views.echo("oauth")),
    # Test controls.
    path("__harness__/expire", harness.expire),
    path("__harness__/reset", harness.reset),
    path("__harness__/stats", harness.stats),
]
