"""The real path: an API change → the outbox → Redis → a Celery worker process → a receiver on loopback."""


import pytest
from django.db import connection

from notify.models import Attempt, Delivery
from notify.services import deliveries_sweep, subscription_create
from notify.tests.receivers import WebhookReceiver, webhook_receiver
from probes.tests.test_redis_outage import redis_broker  # noqa: F401 (a fixture: a redis-server of the test's own)
from probes.tests.worker import Worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def notify_worker(queue, fernet_key, **env) -> Worker:
    worker = Worker(connection, queue)
    worker.env.update({
        "CTRLREADY_SECRET_KEYS": fernet_key,
        "CTRLREADY_WEBHOOK_ALLOW_PRIVATE": "1",
        "CTRLREADY_DELIVERY_BACKOFF_SECONDS": "0.3",
        **env,
    })
    return worker


def test_a_failed_item_reaches_a_webhook_through_a_real_worker_after_two_500s(api, people, deployment, queue, fernet_key, settings):
    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_receiver(WebhookReceiver(script=[500, 500])) as receiver:
        created = subscription_create(channel="webhook", target=receiver.url, events=["item_failed"], actor=people["admin"])
        receiver.secret = created.secret
        worker = notify_worker(queue, fernet_key).start()
        try:
            response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "failed", "note": "no plan"})
            assert response.status_code == 200
            assert wait_until(lambda: Delivery.objects.filter(status="delivered").exists(), timeout=30), worker.log.read_text()[-3000:]
        finally:
            worker.stop()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.kind) == ("delivered", 3, "item_failed")
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert {r.id for r in receiver.received} == {str(delivery.pk)} and all(r.verified for r in receiver.received)
    assert Attempt.objects.filter(delivery=delivery).count() == 3
    assert created.secret.removeprefix("whsec_") not in worker.log.read_text()


def test_with_redis_stopped_while_events_happen_every_notification_arrives_once_it_is_back(
    api, people, ready_deployment, queue, fernet_key, settings, redis_broker  # noqa: F811 (the fixture above)
):
    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True
    deployment = ready_deployment
    with webhook_receiver(WebhookReceiver()) as receiver:
        receiver.secret = subscription_create(channel="webhook", target=receiver.url, actor=people["admin"]).secret
        worker = notify_worker(queue, fernet_key, REDIS_URL=f"redis://127.0.0.1:{redis_broker.port}/0").start()
        try:
            redis_broker.stop()
            base = f"deployments/{deployment.pk}"
            assert api.post("engineer", f"{base}/items/rollback", {"state": "failed"}).status_code == 200
            assert api.post("engineer", f"{base}/items/rollback", {"state": "passed"}).status_code == 200
            digest = api.get("lead", base).json()["digest"]
            assert api.post("lead", f"{base}/signoffs", {"role": "lead", "digest": digest}).status_code == 201
            pending = set(Delivery.objects.values_list("pk", flat=True))
            assert {d.kind for d in Delivery.objects.all()} == {"item_failed", "ready_for_signoff", "signed_off"}
            assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
            assert receiver.received == []

            redis_broker.start()  # the same port: the worker and the pools reconnect
            assert deliveries_sweep(grace_seconds=0) == len(pending)  # what beat's sweep does
            assert wait_until(lambda: Delivery.objects.filter(status="delivered").count() == len(pending), timeout=60), (
                worker.log.read_text()[-3000:]
            )
        finally:
            worker.stop()
    assert receiver.delivered_ids() == {str(pk) for pk in pending}
