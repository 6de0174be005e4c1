"""Top-level routes: the web pages, the admin, the health probe, the language switch and the API."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from compliance_portal.health import healthz, livez

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/privacy/", include("privacy.api.urls")),
    path("api/v1/", include("shops.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[], authentication_classes=[]),
        name="api-docs",
    ),
    path("privacy/", include("privacy.urls")),
    path("", include("affiliate.urls")),
    path("", include("shops.urls")),
]
