"""Celery tasks of the checklists app: thin, by name; the rules are in the modules they call."""

from celery import shared_task

from checklists.reminders import reminders_send


@shared_task(name="checklists.send_reminders", ignore_result=True)
def send_reminders() -> int:
    return reminders_send()
