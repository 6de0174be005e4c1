from django.http import JsonResponse
from django.utils.translation import gettext as _


class ApiUserAgentMiddleware:
    """Seed 001: every API call declares its client in a User-Agent header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/v1/") and not request.META.get("HTTP_USER_AGENT", "").strip():
            return JsonResponse(
                {
                    "error": {
                        "code": "user_agent_required",
                        "message": _("Requests must carry a User-Agent header naming the client."),
                        "details": None,
                    }
                },
                status=400,
            )
        return self.get_response(request)
