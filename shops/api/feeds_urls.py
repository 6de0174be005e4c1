"""Routes of this part of the API (see shops/api/urls.py): feeds pushed by ops, evaluation runs."""

from django.urls import path

from shops.api.feeds import FeedJobDetailView, FeedJobListView, RunDetailView, RunListView

urlpatterns = [
    path("feeds/", FeedJobListView.as_view(), name="feed-job-list"),
    path("feeds/<int:pk>/", FeedJobDetailView.as_view(), name="feed-job-detail"),
    path("runs/", RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", RunDetailView.as_view(), name="run-detail"),
]
