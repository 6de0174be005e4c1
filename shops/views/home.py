"""The front door: each role lands on its own dashboard."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path


@login_required
def home(request):
    user = request.user
    if user.is_ops:
        return redirect("ops_overview")
    if user.role == user.Role.CREATOR:
        return redirect("creator_home")
    return redirect("portfolio")


urlpatterns = [path("", home, name="home")]
