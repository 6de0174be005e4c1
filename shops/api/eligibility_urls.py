"""Routes of this part of the API (see shops/api/urls.py)."""

urlpatterns: list = []
