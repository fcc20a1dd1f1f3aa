"""Fixtures for the notification tests: subscriptions, and a queue that only records what was sent."""

import pytest

from core.models import Team


@pytest.fixture
def sent(monkeypatch):
    """What the outbox hands to the queue (by delivery id), with nothing published."""
    queued = []

    def record(name, *, args=(), **options):
        queued.append((name, args, options))

    monkeypatch.setattr("notify.outbox.task_send", record)  # the sweep's and a redelivery's sends
    monkeypatch.setattr("core.queue.task_send", record)  # what `task_offer` sends right after a change
    return queued


@pytest.fixture
def team(db):
    return Team.objects.create(slug="payments", name="Payments")


@pytest.fixture
def subscribe(people, settings, fernet_key):
    """`subscribe(channel, target, **filters)`: a subscription made by an admin."""
    from notify.services import subscription_create

    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True

    def make(channel="webhook", target="http://127.0.0.1:9/hook", **filters):
        return subscription_create(channel=channel, target=target, actor=people["admin"], **filters)

    return make


@pytest.fixture
def unused_port():
    """A port on 127.0.0.1 where nothing listens."""
    from notify.tests.receivers import free_port

    return free_port()
