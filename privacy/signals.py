"""At sign-in: does the user have to accept a significant new version of the privacy policy?

The answer is kept in the session, so the middleware asks no query on each request; a
version marked significant is asked for "at next sign-in" (policy 003 §6).
"""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

REACCEPT_SESSION_KEY = "privacy_policy_reaccept"


@receiver(user_logged_in, dispatch_uid="privacy_policy_reaccept")
def policy_check_at_sign_in(sender, request, user, **kwargs) -> None:
    from privacy.selectors import policy_acceptance_required

    if request is None or not hasattr(request, "session"):
        return
    if policy_acceptance_required(user=user) is not None:
        request.session[REACCEPT_SESSION_KEY] = True
    else:
        request.session.pop(REACCEPT_SESSION_KEY, None)
