"""Top-level routes: the admin, the health probe and the language switch."""

from django.contrib import admin
from django.urls import include, path

from compliance_portal.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
]
