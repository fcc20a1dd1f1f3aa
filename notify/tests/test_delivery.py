"""Sending: signed webhooks to a real receiver, Slack's shape, email to a real SMTP server, retries and refusals."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.items import item_state_set
from core.events import event_append
from core.models import Event
from notify.models import Attempt, Delivery
from notify.services import backoff_seconds, delivery_attempt
from notify.tests.receivers import WebhookReceiver, smtp_server, webhook_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def retries(monkeypatch):
    """The retries the service schedules: (delivery id, countdown), with nothing published."""
    scheduled = []
    monkeypatch.setattr("notify.services.deliveries_queue", lambda ids, **o: scheduled.append((ids[0], o.get("countdown"))))
    return scheduled


def due_now(delivery_id):
    Delivery.objects.filter(pk=delivery_id).update(next_at=timezone.now())


def fail_rollback(deployment, people):
    item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", note="no plan yet",
                   actor=people["engineer"], source="api")
    return Delivery.objects.get(kind="item_failed")


def test_a_webhook_answered_500_twice_then_200_takes_three_attempts_under_one_id(
    deployment, people, subscribe, sent, retries, settings
):
    settings.CTRLREADY_DELIVERY_BACKOFF_SECONDS = 10
    with webhook_receiver(WebhookReceiver(script=[500, 500])) as receiver:
        created = subscribe(target=receiver.url, events=["item_failed"])
        receiver.secret = created.secret
        delivery = fail_rollback(deployment, people)
        for _ in range(3):
            due_now(delivery.pk)
            delivery_attempt(delivery.pk)

    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert {r.id for r in receiver.received} == {str(delivery.pk)}  # webhook-id stable across retries
    assert all(r.verified for r in receiver.received)  # standardwebhooks verifies every attempt
    assert {r.event for r in receiver.received} == {"item_failed"}
    assert receiver.received[0].body == receiver.received[2].body  # the same document every time
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_code) == ("delivered", 3, 200)
    assert list(Attempt.objects.filter(delivery=delivery).values_list("number", "code")) == [(1, 500), (2, 500), (3, 200)]
    # Two retries were scheduled, the second about three times later than the first.
    assert [pk for pk, _ in retries] == [str(delivery.pk)] * 2
    first, second = (countdown for _, countdown in retries)
    assert 8 <= first <= 12 and 24 <= second <= 36


def test_the_webhook_document_is_what_spec_promises(deployment, people, subscribe, sent, retries):
    with webhook_receiver(WebhookReceiver()) as receiver:
        receiver.secret = subscribe(target=receiver.url).secret
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
    body = receiver.received[0].body
    assert set(body) == {"event", "delivery", "at", "text", "actor", "deployment", "item"}
    assert (body["event"], body["delivery"], body["actor"]) == ("item_failed", str(delivery.pk), "engineer")
    assert body["item"] == {"key": "rollback", "text": "Rollback plan ready", "state": "failed"}
    d = body["deployment"]
    assert (d["id"], d["release"], d["service"], d["environment"], d["status"]) == (
        deployment.pk, "v1.0.0", "ctrlchecks-api", "staging", "open"
    )
    assert d["url"].endswith(f"/deployments/{deployment.pk}/") and d["progress"]["failed"] == 1
    assert "Rollback plan ready" in body["text"] and "failed" in body["text"]


def test_a_delivery_that_never_succeeds_fails_after_the_set_attempts(deployment, people, subscribe, sent, retries, settings):
    settings.CTRLREADY_DELIVERY_ATTEMPTS = 3
    with webhook_receiver(WebhookReceiver(then=503)) as receiver:
        subscribe(target=receiver.url)
        delivery = fail_rollback(deployment, people)
        for _ in range(5):
            due_now(delivery.pk)
            delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_code) == ("failed", 3, 503)
    assert "503" in delivery.last_error
    assert len(receiver.received) == 3


def test_an_attempt_is_made_only_when_due_and_only_once(deployment, people, subscribe, sent, retries):
    with webhook_receiver(WebhookReceiver(script=[500])) as receiver:
        subscribe(target=receiver.url)
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
        assert delivery_attempt(delivery.pk) is None  # its retry is not due yet
        due_now(delivery.pk)
        delivery_attempt(delivery.pk)
        assert delivery_attempt(delivery.pk) is None  # delivered: a duplicate task sends nothing
    assert len(receiver.received) == 2


def test_a_receiver_that_is_down_is_retried(deployment, people, subscribe, sent, retries, unused_port):
    subscribe(target=f"http://127.0.0.1:{unused_port}/hook")
    delivery = fail_rollback(deployment, people)
    delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_code) == ("pending", 1, None)
    assert "could not be reached" in delivery.last_error
    assert retries and delivery.next_at > timezone.now()


def test_a_private_address_is_refused_at_connect_time_unless_allowed(deployment, people, subscribe, sent, retries, settings):
    with webhook_receiver(WebhookReceiver()) as receiver:
        subscribe(target=receiver.url.replace("127.0.0.1", "localhost"))
        settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = False
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert receiver.received == []  # not a packet sent
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # refused for good, not retried
    assert "private or loopback" in delivery.last_error and "CTRLREADY_WEBHOOK_ALLOW_PRIVATE" in delivery.last_error
    assert retries == []


def test_slack_gets_text_and_blocks(deployment, people, subscribe, sent, retries):
    with webhook_receiver(WebhookReceiver()) as receiver:
        subscribe(channel="slack", target=receiver.url)
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
    body = receiver.received[0].body
    assert set(body) == {"text", "blocks"}
    assert "Rollback plan ready" in body["text"]
    assert body["blocks"][0]["type"] == "section" and f"/deployments/{deployment.pk}/" in body["blocks"][0]["text"]["text"]


def test_email_reaches_a_real_smtp_server(deployment, people, subscribe, sent, retries, settings):
    with smtp_server() as (inbox, port):
        settings.MAILERS = {"default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }}
        subscribe(channel="email", target="ops@example.com")
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered", delivery.last_error
    [message] = inbox.messages
    assert message.rcpt_tos == ["ops@example.com"]
    text = message.content.decode()
    assert "Subject: [ctrlready]" in text and "Rollback plan ready" in text
    assert f"/deployments/{deployment.pk}/" in text


def test_an_assigned_person_gets_their_email_from_a_real_smtp_server(deployment, people, sent, retries, settings):
    people["engineer"].email = "engineer@example.com"
    people["engineer"].save()
    with smtp_server() as (inbox, port):
        settings.MAILERS = {"default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }}
        event_append(kind=Event.Kind.ASSIGNED, source="api", actor=people["lead"], deployment=deployment,
                     data={"user": "engineer"})
        delivery = Delivery.objects.get(recipient=people["engineer"])
        delivery_attempt(delivery.pk)
    [message] = inbox.messages
    assert message.rcpt_tos == ["engineer@example.com"]
    assert "assigned to engineer" in message.content.decode()


def test_an_unreachable_mail_server_is_retried(deployment, people, subscribe, sent, retries, settings, unused_port):
    settings.MAILERS = {"default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {"host": "127.0.0.1", "port": unused_port, "timeout": 2},
    }}
    subscribe(channel="email", target="ops@example.com")
    delivery = fail_rollback(deployment, people)
    delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1) and delivery.last_error


def test_no_secret_in_any_log_line(deployment, people, subscribe, sent, retries, caplog):
    caplog.set_level(logging.DEBUG)
    with webhook_receiver(WebhookReceiver(script=[500])) as receiver:
        created = subscribe(target=receiver.url)
        receiver.secret = created.secret
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
        due_now(delivery.pk)
        delivery_attempt(delivery.pk)
    secret = created.secret.removeprefix("whsec_")
    assert caplog.records
    assert not [r for r in caplog.records if secret in r.getMessage() or secret in json.dumps(r.__dict__, default=str)]
    assert created.subscription.secret_encrypted and secret not in created.subscription.secret_encrypted


def test_backoff_grows_threefold_with_jitter(settings):
    settings.CTRLREADY_DELIVERY_BACKOFF_SECONDS = 10
    for tries, expected in ((1, 10), (2, 30), (3, 90), (7, 7290)):
        delays = [backoff_seconds(tries) for _ in range(50)]
        assert all(0.8 * expected <= d <= 1.2 * expected for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_the_sweep_leaves_a_delivery_in_flight_alone(deployment, people, subscribe, sent, monkeypatch):
    from notify.services import LEASE, deliveries_sweep

    subscribe()
    delivery = fail_rollback(deployment, people)
    Delivery.objects.filter(pk=delivery.pk).update(next_at=timezone.now() + LEASE)  # an attempt holds it
    queued = []
    monkeypatch.setattr("notify.outbox.task_send", lambda name, *, args=(), **o: queued.append(args[0]))
    assert deliveries_sweep(grace_seconds=0) == 0
    assert deliveries_sweep(now=timezone.now() + LEASE + timedelta(seconds=1), grace_seconds=0) == 1
