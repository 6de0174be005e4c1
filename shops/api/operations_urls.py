"""Routes of this part of the API (see shops/api/urls.py): plans, creator adds, appeals,
notifications and API tokens (views in shops/api/operations.py)."""

from django.urls import path

from shops.api import operations as views

urlpatterns = [
    path("plans/", views.PlansView.as_view(), name="plans"),
    path("plans/<int:pk>/", views.PlanView.as_view(), name="plan"),
    path("plans/<int:pk>/products/", views.PlanProductsView.as_view(), name="plan-products"),
    path("plans/<int:pk>/products/<str:product_key>/", views.PlanProductView.as_view(), name="plan-product"),
    path("plans/<int:pk>/end/", views.PlanEndView.as_view(), name="plan-end"),
    path("plans/<int:pk>/invitations/", views.PlanInvitationsView.as_view(), name="plan-invitations"),
    path("plans/<int:pk>/precheck/", views.PlanPrecheckView.as_view(), name="plan-precheck"),
    path("shops/<str:key>/blast-radius/", views.ShopBlastRadiusView.as_view(), name="shop-blast-radius"),
    path("shops/<str:key>/recreate-plans/", views.PlansRecreateView.as_view(), name="shop-recreate-plans"),
    path("products/<str:key>/blast-radius/", views.ProductBlastRadiusView.as_view(), name="product-blast-radius"),
    path("creator-adds/", views.CreatorAddsView.as_view(), name="creator-adds"),
    path("appeals/", views.AppealsView.as_view(), name="appeals"),
    path("appeals/queue/", views.AppealsQueueView.as_view(), name="appeals-queue"),
    path("appeals/checklist/", views.AppealChecklistView.as_view(), name="appeals-checklist"),
    path("appeals/<int:pk>/", views.AppealView.as_view(), name="appeal"),
    path("appeals/<int:pk>/approve/", views.AppealApproveView.as_view(), name="appeal-approve"),
    path("appeals/<int:pk>/reject/", views.AppealRejectView.as_view(), name="appeal-reject"),
    path("appeals/<int:pk>/withdraw/", views.AppealWithdrawView.as_view(), name="appeal-withdraw"),
    path("notifications/", views.NotificationsView.as_view(), name="notifications"),
    path("notifications/read/", views.NotificationsReadView.as_view(), name="notifications-read"),
    path("notifications/read-all/", views.NotificationsReadAllView.as_view(), name="notifications-read-all"),
    path("notifications/preferences/", views.NotificationPreferencesView.as_view(), name="notification-preferences"),
    path("tokens/", views.ApiTokensView.as_view(), name="tokens"),
    path("tokens/<str:prefix>/", views.ApiTokenView.as_view(), name="token"),
]
