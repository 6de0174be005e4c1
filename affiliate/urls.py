"""The creator's web pages."""

from affiliate.views import urlpatterns

__all__ = ["urlpatterns"]
