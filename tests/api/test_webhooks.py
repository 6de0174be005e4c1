"""Webhooks: a delivery is signed, sent once, retried after a receiver failure, and seen only by
those allowed to see its event; the outbox keeps events while the broker is unreachable.

The receiver is a real HTTP server on 127.0.0.1 in a thread, told how many calls to fail.
"""

import datetime as dt
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError

from shops import webhook_tasks
from shops.models import ApiToken, AuditEntry, User, WebhookDelivery, WebhookEvent, WebhookSubscription
from shops.services.evaluation import evaluation_run_inline
from shops.services.tokens import api_token_create
from shops.services.webhooks import (
    webhook_backoff,
    webhook_deliver,
    webhook_event_record,
    webhook_outbox_dispatch,
    webhook_signature,
    webhook_subscription_create,
    webhook_verify,
)
from tests.api.conftest import token_client
from tests.factories import make_creator, make_shop, make_user
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CHANGED = WebhookSubscription.Event.ELIGIBILITY_CHANGED
RUN_COMPLETED = WebhookSubscription.Event.RUN_COMPLETED


class Receiver:
    """Answers 500 to the first ``failures`` calls, then 200; records every call."""

    def __init__(self):
        self.failures = 0
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.calls.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                    status = 500 if len(receiver.calls) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_calls(self, count: int, seconds: float = 30) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"{len(self.calls)} calls received, expected {count}"
            time.sleep(0.05)
        return self.calls

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def token_of(user: User, scopes=(ApiToken.Scope.WEBHOOKS_MANAGE,)) -> ApiToken:
    return api_token_create(user=user, scopes=list(scopes), purpose="Webhook receiver of the tests")[0]


def subscribe(user: User, url: str, events=(CHANGED,)) -> tuple[WebhookSubscription, str]:
    return webhook_subscription_create(token=token_of(user), url=url, events=list(events))


def record(seller_ids=(), *, event=CHANGED, key=None, **payload) -> WebhookEvent:
    key = key or uuid.uuid4().hex
    webhook_event_record(event=event, payload=payload, seller_ids=seller_ids, dedupe_key=key)
    return WebhookEvent.objects.get(dedupe_key=key)


def deliver_all() -> list[WebhookDelivery]:
    """What the tasks do: dispatch the outbox, then send each pending delivery that is due."""
    webhook_outbox_dispatch()
    pending = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).order_by("id")
    return [webhook_deliver(delivery_id=pk) for pk in pending.values_list("id", flat=True)]


def wait_until_due(delivery: WebhookDelivery) -> None:
    delivery.refresh_from_db()
    time.sleep(max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds()) + 0.01)


# Signing ----------------------------------------------------------------------------------------


def test_a_delivery_is_signed_and_the_receiver_verifies_it(alice, seller_a, receiver):
    subscription, secret = subscribe(alice, receiver.url)
    event = record([seller_a.pk], entity="shop", id="SHOP-1", status="RESTRICTED")

    [delivery] = deliver_all()

    [call] = receiver.calls
    headers, body = call["headers"], call["body"]
    assert secret.startswith("whsec_") and subscription.secret == secret
    assert (headers["X-CP-Event"], headers["X-CP-Delivery"]) == ("eligibility.changed", str(delivery.pk))
    assert headers["User-Agent"].startswith("CompliancePortal-Webhooks/")
    assert headers["Content-Type"] == "application/json"
    assert abs(int(headers["X-CP-Timestamp"]) - time.time()) < 10
    assert headers["X-CP-Signature"] == webhook_signature(secret, headers["X-CP-Timestamp"], body)
    document = json.loads(body)
    assert document["id"] == event.pk and document["event"] == "eligibility.changed"
    assert document["data"] == {"entity": "shop", "id": "SHOP-1", "status": "RESTRICTED"}
    assert webhook_verify(secret, headers, body)
    assert webhook_verify(secret, {k.lower(): v for k, v in headers.items()}, body.decode())


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fail_verification(alice, seller_a, receiver):
    _, secret = subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    deliver_all()
    headers, body = receiver.calls[0]["headers"], receiver.calls[0]["body"]
    sent_at = int(headers["X-CP-Timestamp"])

    assert not webhook_verify(secret, headers, body.replace(b"SHOP-1", b"SHOP-2"))
    assert not webhook_verify("whsec_another", headers, body)
    assert not webhook_verify(secret, headers, body, now=sent_at + 301)
    assert webhook_verify(secret, headers, body, now=sent_at + 300)
    replayed = headers | {"X-CP-Timestamp": str(sent_at - 3600)}
    replayed["X-CP-Signature"] = webhook_signature(secret, sent_at - 3600, body)
    assert not webhook_verify(secret, replayed, body)
    assert not webhook_verify(secret, {}, body)


# Delivery, retries, redelivery ------------------------------------------------------------------


def test_a_delivery_is_sent_exactly_once_even_if_its_task_runs_twice(alice, seller_a, receiver):
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    webhook_outbox_dispatch()
    delivery = WebhookDelivery.objects.get()

    webhook_tasks.webhook_deliver_task(delivery.pk)
    webhook_tasks.webhook_deliver_task(delivery.pk)
    assert webhook_tasks.webhook_retry_task() == 0
    assert webhook_outbox_dispatch() == 0

    assert len(receiver.calls) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_the_wait_between_attempts_doubles_from_the_base_up_to_an_hour(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    waits = [webhook_backoff(attempts).total_seconds() for attempts in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_receiver_failure_is_retried_with_backoff_and_delivered_once_it_recovers(alice, seller_a, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.4
    receiver.failures = 3
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")

    [delivery] = deliver_all()
    waits = []
    for attempt in (1, 2, 3):
        failed_at = timezone.now()
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", attempt, 500)
        assert delivery.last_error.startswith("HTTP 500")
        waits.append((delivery.next_attempt_at - failed_at).total_seconds())
        # Not due yet: the retry beat leaves it alone.
        assert webhook_tasks.webhook_retry_task() == 0
        assert len(receiver.calls) == attempt
        wait_until_due(delivery)
        assert webhook_tasks.webhook_retry_task() == 1

    assert len(receiver.calls) == 4
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered",
        4,
        200,
        "",
    )
    # Each wait is the base doubled once more (less the few ms the test took to look).
    for wait, expected in zip(waits, [0.4, 0.8, 1.6], strict=True):
        assert expected - 0.2 < wait <= expected
    # The same delivery every time: the receiver can deduplicate on X-CP-Delivery.
    assert {call["headers"]["X-CP-Delivery"] for call in receiver.calls} == {str(delivery.pk)}


def test_a_delivery_fails_for_good_after_the_maximum_number_of_attempts(alice, seller_a, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.01
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.failures = 100
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")

    [delivery] = deliver_all()
    for _ in range(5):
        if delivery.next_attempt_at:
            wait_until_due(delivery)
        webhook_tasks.webhook_retry_task()
        delivery.refresh_from_db()

    assert len(receiver.calls) == 3
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert webhook_deliver(delivery_id=delivery.pk) is None


def test_an_unreachable_receiver_counts_as_a_failed_attempt(alice, seller_a, receiver):
    url = receiver.url
    receiver.close()
    subscribe(alice, url)
    record([seller_a.pk], entity="shop", id="SHOP-1")

    [delivery] = deliver_all()

    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "ConnectionError" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()


def test_the_owner_redelivers_a_delivery_by_hand_and_the_redelivery_is_audited(
    alice, seller_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    [delivery] = deliver_all()

    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(alice).post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/")

    assert response.status_code == 202, response.json()
    assert len(receiver.calls) == 2
    assert receiver.calls[0]["body"] == receiver.calls[1]["body"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    entry = AuditEntry.objects.get(action="webhook.redeliver")
    assert (entry.actor, entry.object_id) == (alice, str(delivery.pk))
    assert entry.details["previous_state"] == "delivered"


def test_a_failed_delivery_redelivered_gets_a_fresh_set_of_attempts(
    alice, seller_a, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.failures = 1
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    [delivery] = deliver_all()
    assert (delivery.state, delivery.attempts) == ("failed", 1)

    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(alice).post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/")

    assert (response.status_code, response.json()["state"], response.json()["attempts"]) == (202, "pending", 0)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 1, "")
    assert len(receiver.calls) == 2


# Who receives what ------------------------------------------------------------------------------


def test_each_persona_receives_only_the_events_about_its_own_objects(alice, bob, carol, olga, seller_a, seller_b):
    url = "http://127.0.0.1:9/hook"  # nothing is sent: the test looks at the deliveries created
    subscriptions = {
        "alice": subscribe(alice, url)[0],
        "bob": subscribe(bob, url)[0],
        "carol": subscribe(carol, url)[0],
        "olga": subscribe(olga, url, events=(CHANGED, RUN_COMPLETED))[0],
        "alice_feeds": subscribe(alice, url, events=(WebhookSubscription.Event.FEED_COMPLETED,))[0],
    }
    events = {
        "sel_a": record([seller_a.pk], entity="shop", id="SHOP-A"),
        "sel_a_and_b": record([seller_a.pk, seller_b.pk], entity="product", id="P-SHARED"),
        "sel_b": record([seller_b.pk], entity="shop", id="SHOP-B"),
        "carol": record(entity="creator", id="CR-CAROL"),
        "other_creator": record(entity="creator", id="CR-OTHER"),
        "run": record(event=RUN_COMPLETED, run=1),
    }

    assert webhook_outbox_dispatch() == len(events)

    names = {event.pk: name for name, event in events.items()}
    received = {
        who: {names[pk] for pk in sub.deliveries.values_list("event_id", flat=True)}
        for who, sub in subscriptions.items()
    }
    assert received == {
        "alice": {"sel_a", "sel_a_and_b"},
        "bob": {"sel_a_and_b", "sel_b"},
        "carol": {"carol"},
        "olga": set(events),
        "alice_feeds": set(),
    }
    assert not WebhookEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_only_ops_clients_can_subscribe_to_run_completed(alice, olga):
    with pytest.raises(ValidationError, match="Only ops clients"):
        subscribe(alice, "http://127.0.0.1:9/hook", events=(RUN_COMPLETED,))
    assert subscribe(olga, "http://127.0.0.1:9/hook", events=(RUN_COMPLETED,))[0].events == ["run.completed"]


def test_a_paused_subscription_or_a_revoked_token_receives_nothing(alice, seller_a, receiver):
    paused, _ = subscribe(alice, receiver.url)
    WebhookSubscription.objects.filter(pk=paused.pk).update(active=False)
    revoked, _ = subscribe(alice, receiver.url)
    ApiToken.objects.filter(pk=revoked.token_id).update(revoked_at=timezone.now())
    record([seller_a.pk], entity="shop", id="SHOP-1")

    assert deliver_all() == []
    assert receiver.calls == []


def test_a_delivery_is_not_sent_once_its_subscription_is_paused(alice, seller_a, receiver):
    subscription, _ = subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    webhook_outbox_dispatch()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)

    delivery = webhook_deliver(delivery_id=WebhookDelivery.objects.get().pk)

    assert receiver.calls == []
    assert (delivery.state, delivery.last_error) == ("failed", "The subscription is paused.")


# The outbox and the broker ----------------------------------------------------------------------


def broker_down(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_an_event_survives_an_unreachable_broker_and_the_beat_delivers_it_later(
    alice, seller_a, receiver, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    subscribe(alice, receiver.url)
    monkeypatch.setattr(webhook_tasks.webhook_dispatch_task, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = record([seller_a.pk], entity="shop", id="SHOP-1")

    assert len(callbacks) == 1
    assert "broker is unreachable" in caplog.text
    event.refresh_from_db()
    assert event.dispatched_at is None and not WebhookDelivery.objects.exists()
    assert receiver.calls == []

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_tasks.webhook_dispatch_task() == 1  # the beat, once Redis is back

    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert len(receiver.calls) == 1
    assert WebhookDelivery.objects.get().state == "delivered"


def test_a_delivery_the_broker_refused_to_queue_is_sent_by_the_retry_beat(
    alice, seller_a, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    subscribe(alice, receiver.url)
    record([seller_a.pk], entity="shop", id="SHOP-1")
    monkeypatch.setattr(webhook_tasks.webhook_deliver_task, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        webhook_tasks.webhook_dispatch_task()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    assert receiver.calls == []

    monkeypatch.undo()
    assert webhook_tasks.webhook_retry_task() == 1
    assert len(receiver.calls) == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered"


def test_recording_an_event_queues_the_dispatch_after_commit_only(
    seller_a, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(webhook_tasks.webhook_dispatch_task, "delay", lambda: queued.append(1))

    with django_capture_on_commit_callbacks() as callbacks:
        record([seller_a.pk], entity="shop", id="SHOP-1", key="once")
        record([seller_a.pk], entity="shop", id="SHOP-1", key="once")  # a duplicate queues nothing more

    assert queued == [] and len(callbacks) == 1
    callbacks[0]()
    assert queued == [1]
    assert WebhookEvent.objects.filter(dedupe_key="once").count() == 1


def test_the_beat_runs_the_dispatcher_every_minute_and_retries_every_30_seconds():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["webhook-dispatch"]["task"] == webhook_tasks.webhook_dispatch_task.name
    assert schedule["webhook-dispatch"]["schedule"].minute == set(range(60))
    assert schedule["webhook-retries"]["task"] == webhook_tasks.webhook_retry_task.name
    assert schedule["webhook-retries"]["schedule"] == 30.0


# Events of the evaluation run -------------------------------------------------------------------


def test_an_evaluation_run_sends_eligibility_changed_to_the_sellers_subscriber(
    alice, seller_a, seller_b, receiver, django_capture_on_commit_callbacks
):
    _, secret = subscribe(alice, receiver.url)
    shop_a = make_shop(seller=seller_a, key="SHOP-A", sps=Decimal("3.1"))
    make_shop(seller=seller_b, key="SHOP-B", sps=Decimal("3.1"))

    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_run_inline(as_of=dt.date(2026, 11, 20))

    [call] = receiver.calls
    assert webhook_verify(secret, call["headers"], call["body"])
    data = json.loads(call["body"])["data"]
    assert (data["entity"], data["id"], data["old_status"], data["status"]) == ("shop", "SHOP-A", None, "RESTRICTED")
    assert (data["run"], data["reasons"]) == (run.pk, ["SPS_BELOW_ELIGIBLE"])
    assert WebhookEvent.objects.get(dedupe_key=f"run:{run.pk}:shop:{shop_a.pk}").seller_ids == [seller_a.pk]
    # SHOP-B's event and run.completed were recorded, but are not alice's to receive.
    assert WebhookEvent.objects.filter(dispatched_at__isnull=True).count() == 0
    assert WebhookEvent.objects.filter(event=RUN_COMPLETED).count() == 1


def test_no_eligibility_changed_is_recorded_when_nobody_subscribed(seller_a):
    make_shop(seller=seller_a, sps=Decimal("3.1"))
    make_creator(pps=None)

    evaluation_run_inline(as_of=dt.date(2026, 11, 20))

    assert not WebhookEvent.objects.filter(event=CHANGED).exists()


# The API ----------------------------------------------------------------------------------------


def test_a_client_creates_a_subscription_and_sees_its_secret_only_once(alice, receiver):
    client = token_client(alice)
    response = client.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["eligibility.changed"]}, format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["events"], created["active"]) == (receiver.url, ["eligibility.changed"], True)
    listed = client.get("/api/v1/webhooks/").json()["results"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0] and "secret" not in client.get(f"/api/v1/webhooks/{created['id']}/").json()
    assert WebhookSubscription.objects.get().secret == created["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM shops_webhooksubscription")
        assert cursor.fetchone()[0] != created["secret"]  # encrypted at rest
    assert AuditEntry.objects.filter(action="webhook.create", actor=alice).exists()


def test_a_client_updates_pauses_and_deletes_its_subscription(alice):
    client = token_client(alice)
    created = client.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/a", "events": ["eligibility.changed"]}, format="json"
    ).json()
    url = f"/api/v1/webhooks/{created['id']}/"

    patched = client.patch(url, {"events": ["appeal.updated", "feed.completed"], "active": False}, format="json")
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["events"], patched.json()["active"]) == (["appeal.updated", "feed.completed"], False)
    assert (
        client.put(url, {"url": "http://127.0.0.1:9/b", "events": ["feed.completed"]}, format="json").status_code == 405
    )

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert list(
        AuditEntry.objects.filter(object_type="webhook_subscription").order_by("id").values_list("action", flat=True)
    ) == [
        "webhook.create",
        "webhook.update",
        "webhook.delete",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook", "events": ["eligibility.changed"]}, "url"),
        ({"url": "not a url", "events": ["eligibility.changed"]}, "url"),
        ({"url": "https://user:pw@example.com/hook", "events": ["eligibility.changed"]}, "url"),
        ({"url": "https://example.com/hook", "events": []}, "events"),
        ({"url": "https://example.com/hook", "events": ["order.created"]}, "events"),
        ({"url": "https://example.com/hook", "events": ["run.completed"]}, "events"),
    ],
)
def test_a_bad_url_or_event_list_is_refused_with_400(alice, body, field):
    response = token_client(alice).post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://93.184.215.14/hook", False),
        ("https://127.0.0.1/hook", False),
        ("https://localhost/hook", False),
        ("https://10.1.2.3/hook", False),
        ("https://169.254.169.254/latest/meta-data", False),
        ("https://[::1]/hook", False),
        ("https://93.184.215.14/hook", True),
    ],
)
def test_production_accepts_only_https_urls_of_public_addresses(alice, settings, url, accepted):
    settings.ENVIRONMENT = "production"
    if accepted:
        assert subscribe(alice, url)[0].url == url
    else:
        with pytest.raises(ValidationError):
            subscribe(alice, url)


def test_locally_a_plain_http_loopback_receiver_is_accepted(alice):
    assert subscribe(alice, "http://127.0.0.1:8001/hook")[0].url == "http://127.0.0.1:8001/hook"


def test_the_delivery_log_is_paged_newest_first_in_a_constant_number_of_queries(alice, seller_a):
    subscription, _ = subscribe(alice, "http://127.0.0.1:9/hook")
    client = token_client(alice)
    url = f"/api/v1/webhooks/{subscription.pk}/deliveries/"
    client.get(url)  # the token's last-used time is written on its first call

    def log_queries(count: int) -> tuple[int, list]:
        for _ in range(count):
            record([seller_a.pk], entity="shop", id="SHOP-1")
        webhook_outbox_dispatch()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": 50})
        assert response.status_code == 200
        return len(queries), response.json()["results"]

    few, first = log_queries(2)
    many, results = log_queries(10)

    assert few == many == 3  # the token, the subscription, the page
    assert len(first) == 2 and len(results) == 12
    assert [r["id"] for r in results] == sorted((r["id"] for r in results), reverse=True)
    assert set(results[0]) >= {"event", "event_id", "state", "attempts", "next_attempt_at", "last_error", "payload"}
    page = client.get(url, {"page_size": 5}).json()
    assert len(page["results"]) == 5 and page["next"]


def test_the_webhook_endpoints_need_the_webhooks_manage_scope(alice):
    client = token_client(alice, scopes=["eligibility:read"])
    response = client.get("/api/v1/webhooks/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    post = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/", "events": [CHANGED]}, format="json")
    assert post.status_code == 403


def test_another_users_subscription_and_deliveries_answer_404(alice, bob, seller_a):
    subscription, _ = subscribe(alice, "http://127.0.0.1:9/hook")
    record([seller_a.pk], entity="shop", id="SHOP-1")
    webhook_outbox_dispatch()
    delivery = WebhookDelivery.objects.get()
    client = token_client(bob)

    assert client.get("/api/v1/webhooks/").json()["results"] == []
    assert client.get(f"/api/v1/webhooks/{subscription.pk}/").status_code == 404
    assert client.patch(f"/api/v1/webhooks/{subscription.pk}/", {"active": False}, format="json").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{subscription.pk}/").status_code == 404
    assert client.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/").status_code == 404
    assert client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/").status_code == 404
    subscription.refresh_from_db()
    assert subscription.active


def test_a_browser_session_cannot_create_a_subscription_without_a_token(alice, client):
    client.force_login(alice)
    response = client.post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/", "events": [CHANGED]},
        content_type="application/json",
        HTTP_USER_AGENT="browser",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_required"


# A real worker ----------------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    not (settings.REDIS_AVAILABLE and connection.vendor == "postgresql"),
    reason="needs PostgreSQL and Redis (REQUIRE_SERVICES=1 turns this into a failure)",
)
def test_a_real_worker_delivers_a_committed_event_once_and_retries_after_a_failure(receiver):
    ops = make_user(email="worker@example.com", role=User.Role.OPS, is_staff=True)
    _, secret = subscribe(ops, receiver.url)
    receiver.failures = 1
    with celery_worker():
        with transaction.atomic():
            record(entity="shop", id="SHOP-W")
            assert receiver.calls == []  # nothing leaves before the commit

        receiver.wait_for_calls(1)
        delivery = WebhookDelivery.objects.get()
        assert receiver.calls[0]["headers"]["X-CP-Delivery"] == str(delivery.pk)
        deadline = time.monotonic() + 30
        while WebhookDelivery.objects.filter(pk=delivery.pk, attempts=0).exists():
            assert time.monotonic() < deadline, "the failed attempt was not recorded"
            time.sleep(0.05)
        # The retry beat's job, run here once the backoff has passed; duplicated messages send nothing twice.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        for _ in range(3):
            webhook_tasks.webhook_deliver_task.delay(delivery.pk)
        receiver.wait_for_calls(2)
        time.sleep(1)

    assert len(receiver.calls) == 2
    assert all(webhook_verify(secret, call["headers"], call["body"]) for call in receiver.calls)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
