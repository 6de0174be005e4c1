"""The web pages of the shops app; each area's module lists its own routes."""

from shops.views import accounts, appeals, home, notifications, ops, ops_config, products, seller

urlpatterns = [
    *home.urlpatterns,
    *accounts.urlpatterns,
    *seller.urlpatterns,
    *products.urlpatterns,
    *appeals.urlpatterns,
    *notifications.urlpatterns,
    *ops.urlpatterns,
    *ops_config.urlpatterns,
]
