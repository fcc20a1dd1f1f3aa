from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found

from ctrlready import accounts, health, sso
from ctrlready.api import NOT_FOUND, api

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", sso.LogoutView.as_view(), name="logout"),
    path("accounts/oidc/authenticate/", sso.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("accounts/oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("tokens/", accounts.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", accounts.token_revoke, name="token-revoke"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("checklists.urls")),
    path("", include("probes.urls")),
    path("", include("notify.urls")),
]


def not_found(request, exception):
    """A path no route matches (a key with a line break, say): under /api/ it answers in the API's shape."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": NOT_FOUND}, status=404)
    return page_not_found(request, exception)


handler404 = not_found
