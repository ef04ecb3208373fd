from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from campaigns.api.urls import urls as api_urls
from campaigns.views.health import healthz

handler403 = "campaigns.views.access.permission_denied"

urlpatterns = [
    # First: Kaleyra posts a thousand callbacks a second here, and URLs resolve in this order.
    path("callbacks/kaleyra/", include("campaigns.callbacks.urls")),
    path("", RedirectView.as_view(pattern_name="campaigns:list", permanent=False)),
    path("campaigns/", include("campaigns.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("sandbox/", include("campaigns.kaleyra.sandbox.urls")),
    path("api/v1/", api_urls),
]
