"""A Slack incoming-webhook URL is a credential: stored encrypted, shown up to its host, never logged."""

import importlib
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from checklists.environments import secrets_rotate
from checklists.items import item_state_set
from core import crypto
from notify.models import Attempt, Delivery, Subscription
from notify.services import delivery_attempt, subscription_secret, subscription_url
from notify.tests.receivers import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.django_db

SECRET_PATH = "/services/T0AAAAAAA/B0BBBBBBB/sLaCkToKeN0123456789"
SLACK = f"https://hooks.slack.com{SECRET_PATH}"
migration = importlib.import_module("notify.migrations.0002_slack_target_encrypted")


@pytest.fixture
def retries(monkeypatch):
    scheduled = []
    monkeypatch.setattr("notify.services.deliveries_queue", lambda ids, **o: scheduled.append(ids[0]))
    return scheduled


def stored_rows() -> list[tuple]:
    """The subscriptions table as the database holds it, every column."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notify_subscription")
        return cursor.fetchall()


def fail_rollback(deployment, people) -> Delivery:
    item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
    return Delivery.objects.get(kind="item_failed")


def test_the_table_holds_the_slack_url_only_encrypted(subscribe):
    created = subscribe(channel="slack", target=SLACK).subscription
    (row,) = stored_rows()
    assert not [value for value in row if isinstance(value, str) and "T0AAAAAAA" in value]
    assert "https://hooks.slack.com/…" in row
    created.refresh_from_db()
    assert subscription_url(created) == SLACK


def test_a_webhook_url_and_an_email_address_stay_as_written(subscribe):
    hook = subscribe(channel="webhook", target="http://127.0.0.1:9/hook/with/path").subscription
    mail = subscribe(channel="email", target="ops@example.com").subscription
    assert (hook.target, hook.target_encrypted) == ("http://127.0.0.1:9/hook/with/path", "")
    assert (mail.target, mail.target_encrypted) == ("ops@example.com", "")


def test_the_api_and_the_page_show_only_the_host(api, client, people, fernet_key):
    created = api.post("admin", "subscriptions", {"channel": "slack", "target": SLACK})
    assert created.status_code == 201 and created.json()["target"] == "https://hooks.slack.com/…"
    listed = api.get("admin", "subscriptions")
    assert listed.json()["subscriptions"][0]["target"] == "https://hooks.slack.com/…"
    assert "T0AAAAAAA" not in listed.content.decode()

    client.force_login(people["admin"])
    page = client.post("/notifications/subscriptions/", {"channel": "slack", "target": SLACK})
    assert page.status_code == 201
    for html in (page.content.decode(), client.get("/notifications/").content.decode()):
        assert "https://hooks.slack.com/…" in html and "T0AAAAAAA" not in html


def test_a_slack_delivery_reaches_its_whole_url(deployment, people, subscribe, sent, retries):
    with webhook_receiver(WebhookReceiver()) as receiver:
        subscription = subscribe(channel="slack", target=receiver.url + SECRET_PATH).subscription
        delivery = fail_rollback(deployment, people)
        delivery_attempt(delivery.pk)
    assert subscription.target.endswith("/…") and SECRET_PATH not in subscription.target
    assert [(r.path, r.answered) for r in receiver.received] == [("/hook" + SECRET_PATH, 200)]
    assert set(receiver.received[0].body) == {"text", "blocks"}
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_refused_connection_leaves_the_path_in_no_log_line_and_no_attempt(
    deployment, people, subscribe, sent, retries, unused_port, caplog
):
    for name in (None, "httpx", "httpcore", "notify", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)
    subscribe(channel="slack", target=f"http://127.0.0.1:{unused_port}{SECRET_PATH}")
    delivery = fail_rollback(deployment, people)
    delivery_attempt(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1) and "could not be reached" in delivery.last_error
    assert caplog.records
    token = SECRET_PATH.rsplit("/", 1)[1]
    assert not [r for r in caplog.records if token in r.getMessage() or token in json.dumps(r.__dict__, default=str)]
    recorded = [delivery.last_error, delivery.payload, *Attempt.objects.values_list("error", flat=True)]
    assert len(recorded) == 3 and not [text for text in recorded if token in text]


def test_a_slack_url_under_a_lost_key_fails_the_attempt_with_a_sentence(
    deployment, people, subscribe, sent, retries, settings
):
    subscribe(channel="slack", target=SLACK)
    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode()]
    delivery = fail_rollback(deployment, people)
    delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "CTRLREADY_SECRET_KEYS" in delivery.last_error


def test_secrets_rotate_re_encrypts_slack_urls_and_webhook_secrets(subscribe, settings):
    old = settings.CTRLREADY_SECRET_KEYS[0]
    slack = subscribe(channel="slack", target=SLACK).subscription
    hook = subscribe(channel="webhook", target="http://127.0.0.1:9/hook")
    settings.CTRLREADY_SECRET_KEYS = [Fernet.generate_key().decode(), old]

    assert secrets_rotate() == 2

    settings.CTRLREADY_SECRET_KEYS = settings.CTRLREADY_SECRET_KEYS[:1]  # the old key is gone
    slack.refresh_from_db()
    hook.subscription.refresh_from_db()
    assert subscription_url(slack) == SLACK
    assert subscription_secret(hook.subscription) == hook.secret


def test_the_migration_encrypts_a_slack_url_stored_in_clear(fernet_key):
    stored = Subscription.objects.create(channel="slack", target=SLACK)
    hook = Subscription.objects.create(channel="webhook", target="https://93.184.215.14/hook/path")

    migration.slack_targets_encrypt(apps, None)

    stored.refresh_from_db()
    assert stored.target == "https://hooks.slack.com/…"
    assert crypto.decrypt(stored.target_encrypted) == SLACK
    assert Subscription.objects.get(pk=hook.pk).target == "https://93.184.215.14/hook/path"
    migration.slack_targets_encrypt(apps, None)  # run again: nothing encrypted twice
    assert Subscription.objects.get(pk=stored.pk).target_encrypted == stored.target_encrypted

    migration.slack_targets_decrypt(apps, None)
    assert Subscription.objects.filter(pk=stored.pk).values_list("target", "target_encrypted").get() == (SLACK, "")


def test_the_migration_needs_no_keys_without_slack_subscriptions(settings):
    settings.CTRLREADY_SECRET_KEYS, settings.DEBUG = [], False
    Subscription.objects.create(channel="email", target="ops@example.com")
    migration.slack_targets_encrypt(apps, None)
    assert Subscription.objects.get().target == "ops@example.com"


def test_the_migration_without_keys_says_what_to_set(settings):
    settings.CTRLREADY_SECRET_KEYS, settings.DEBUG = [], False
    Subscription.objects.create(channel="slack", target=SLACK)
    with pytest.raises(ImproperlyConfigured, match="1 Slack subscription.*set it to the keys ctrlready runs with"):
        migration.slack_targets_encrypt(apps, None)
    assert Subscription.objects.get().target == SLACK
