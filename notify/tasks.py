"""Celery tasks: take ids, hand off to the services. Sent by name (`notify.…`)."""

from celery import shared_task

from notify import services
from notify.outbox import DELIVER


@shared_task(name=DELIVER, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id)


@shared_task(name="notify.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    return services.deliveries_sweep()
