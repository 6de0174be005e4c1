"""Telling the recipients of an erased person's data (policy 003 §4(3)): a signed webhook to
the client's receiver, or an e-mail to the client's owner. Each notice row is the log of it;
the keys the recipient knew the person by are cleared once the notice is out."""

import datetime as dt
import json
import logging
import time

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from privacy.models import RecipientNotice
from shops.services.webhooks import USER_AGENT, webhook_signature

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5


def _send(notice: RecipientNotice) -> None:
    document = notice.payload | {"subjects": json.loads(notice.subjects or "[]")}
    body = json.dumps(document, separators=(",", ":"), sort_keys=True)
    if notice.channel == RecipientNotice.Channel.WEBHOOK:
        if notice.subscription is None:
            raise RuntimeError("The webhook subscription no longer exists.")
        timestamp = int(time.time())
        response = requests.post(
            notice.target,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-CP-Event": "privacy.erasure",
                "X-CP-Timestamp": str(timestamp),
                "X-CP-Signature": webhook_signature(notice.subscription.secret, timestamp, body),
            },
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"HTTP {response.status_code}")
    else:
        send_mail(
            "Compliance Portal: personal data erased",
            "A person whose data your API client received had their personal data erased.\n"
            "Delete the personal data you received about these objects, unless the law requires you to keep it:\n\n"
            + json.dumps(document, indent=2),
            settings.DEFAULT_FROM_EMAIL,
            [notice.target],
        )


def recipient_notices_send(*, receipt_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Send pending notices (of one receipt, or all); returns how many went out."""
    now = now or timezone.now()
    pending = RecipientNotice.objects.filter(state=RecipientNotice.State.PENDING).select_related("subscription")
    if receipt_id is not None:
        pending = pending.filter(Q(receipt_id=receipt_id))
    sent = 0
    for notice in pending.order_by("pk"):
        attempts = notice.attempts + 1
        try:
            _send(notice)
        except Exception as exc:  # a receiver's failure is recorded and retried, never raised
            state = RecipientNotice.State.FAILED if attempts >= MAX_ATTEMPTS else RecipientNotice.State.PENDING
            RecipientNotice.objects.filter(pk=notice.pk).update(
                attempts=attempts, last_error=f"{type(exc).__name__}: {exc}"[:500], state=state
            )
            logger.info("Erasure notice %s failed (attempt %s): %s", notice.pk, attempts, exc)
            continue
        RecipientNotice.objects.filter(pk=notice.pk).update(
            state=RecipientNotice.State.SENT, sent_at=now, attempts=attempts, last_error="", subjects=""
        )
        sent += 1
    return sent
