"""Celery tasks of the checklists app: thin, by name; the rules are in the modules they call."""

from celery import shared_task

from checklists import report_files
from checklists.reminders import reminders_send


@shared_task(name="checklists.send_reminders", ignore_result=True)
def send_reminders() -> int:
    return reminders_send()


# Idempotent (the file is claimed pending → drawing), so acknowledged late: a copy redelivered after the
# drawing, or during it, finds nothing to claim. A file whose worker was lost mid-drawing shows as lost at
# its deadline and is drawn when asked again, not at once by a copy that might meet the same end.
@shared_task(
    name=report_files.DRAW_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
    soft_time_limit=report_files.DRAW_SOFT_SECONDS, time_limit=report_files.DRAW_HARD_SECONDS,
)
def draw_report(report_file_id: int) -> bool:
    return report_files.report_file_draw(report_file_id)
