"""A deployment's PDF report: drawn by a Celery worker, kept, and served again while nothing changes.

WeasyPrint takes seconds over a report (9–10 s for the 229-item seed, about a minute for 2,290 items),
longer than a request may take. So asking for the PDF (`report_file_request`) reads the report as it
stands — the same read the other forms are written from — and looks for a file drawn from the same
content (`report_content_sha256`: the report apart from its moment). If there is one, it is served
(a signed-off deployment's report never changes, so its PDF is drawn once). If there is none, a file
is inserted holding the report as read — one per deployment and content, so asking twice while it
is drawn queues one drawing — and `checklists.draw_report` is sent by name once that commits. The
worker claims the file (pending → drawing: a redelivered task finds nothing to claim), draws the
report it holds — so the PDF says exactly what was read when it was asked for, and prints that
reading's `sha256` — keeps the bytes and deletes the deployment's older files. A drawing that fails
keeps a sentence saying why; one that no worker finished by its deadline is shown as failed too;
asking `again` queues either once more.

With the queue unreachable nothing is inserted: the request is refused (503) with a sentence, as
runs are. The Markdown, JSON and XML forms need no queue and stay in the request.
"""

import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from checklists.models import Deployment, ReportFile
from checklists.reports import report_content_sha256, report_for, report_pdf
from core.errors import Unavailable
from core.queue import broker_reachable, task_send
from core.text import excerpt

log = logging.getLogger(__name__)

#: The task that draws a file (sent by name; defined in checklists.tasks).
DRAW_TASK = "checklists.draw_report"
#: A drawing is stopped past the soft limit (and marked failed), killed past the hard one; a file still
#: pending or drawing past its deadline (asked for or started, plus the hard limit and a minute) was lost.
DRAW_SOFT_SECONDS = 540
DRAW_HARD_SECONDS = 600
DEADLINE = timedelta(seconds=DRAW_HARD_SECONDS + 60)

QUEUE_DOWN = (
    "The report queue cannot be reached right now, so the PDF cannot be drawn; nothing was queued. "
    "Try again in a minute — the Markdown, JSON and XML forms need no queue."
)
NEVER_SENT = "The report queue could not be reached, so the PDF was never drawn. Try again."
LOST = (
    "No worker finished drawing the PDF in time: none took it up, or the one drawing it stopped. "
    "Try again; if it happens again, the worker's log says why."
)
TOO_LONG = (
    f"Drawing the PDF took longer than {DRAW_SOFT_SECONDS // 60} minutes, so it was stopped. "
    "The Markdown and JSON forms say the same and are written at once."
)


def report_file_request(*, deployment: Deployment, again: bool = False) -> ReportFile:
    """The PDF file of the deployment's report as it stands: kept, being drawn, failed — or queued now.

    `again`: a file that failed (or was lost) is queued once more. Raises Unavailable, storing nothing,
    when a drawing is needed and the queue cannot be reached.
    """
    doc = report_for(deployment)
    content = report_content_sha256(doc)
    kept = report_file_for(deployment=deployment, content_sha256=content)
    if kept is not None and not (again and report_file_outcome(kept)[0] == ReportFile.Status.FAILED):
        return kept
    if not broker_reachable(timeout=2.0):
        raise Unavailable(QUEUE_DOWN)
    now = timezone.now()
    fresh = {"report_sha256": doc["sha256"], "document": doc, "deadline": now + DEADLINE}
    with transaction.atomic():
        if kept is None:
            report_file, queued = ReportFile.objects.get_or_create(
                deployment=deployment, content_sha256=content, defaults=fresh
            )
        else:
            report_file = kept
            queued = (
                ReportFile.objects.filter(pk=kept.pk)
                .filter(Q(status=ReportFile.Status.FAILED) | Q(status__in=_UNDER_WAY, deadline__lt=now))
                .update(
                    **fresh, status=ReportFile.Status.PENDING, message="", asked_at=now, started_at=None, finished_at=None
                )
            )
            report_file.refresh_from_db(fields=["status", "message", "report_sha256", "asked_at", "deadline"])
        if queued:  # asked twice (or "try again" twice) at once: only the one that changed the row queues it
            transaction.on_commit(lambda: _send(report_file.pk))
    return report_file


_UNDER_WAY = (ReportFile.Status.PENDING, ReportFile.Status.DRAWING)


def report_file_for(*, deployment: Deployment, content_sha256: str) -> ReportFile | None:
    """The deployment's file drawn (or being drawn) from this content, without its bytes."""
    files = ReportFile.objects.defer("pdf", "document")
    return files.filter(deployment=deployment, content_sha256=content_sha256).first()


def report_file_polled(*, deployment: Deployment, report_file_id: int) -> ReportFile | None:
    """A file of the deployment by id, without its bytes (what a waiting page polls: no report is read)."""
    return ReportFile.objects.defer("pdf", "document").filter(deployment=deployment, pk=report_file_id).first()


def report_file_pdf(report_file: ReportFile) -> bytes:
    """The kept bytes of a ready file."""
    return bytes(ReportFile.objects.filter(pk=report_file.pk).values_list("pdf", flat=True).get())


def report_file_outcome(report_file: ReportFile, *, now=None) -> tuple[str, str]:
    """Its status and message as a person is told: a file still under way past its deadline was lost."""
    if report_file.status in _UNDER_WAY and report_file.deadline < (now or timezone.now()):
        return ReportFile.Status.FAILED, LOST
    return report_file.status, report_file.message


def _send(report_file_id: int) -> None:
    """Hand the file to the queue; if the queue went away since it was checked, say so on the file now."""
    try:
        task_send(DRAW_TASK, args=(report_file_id,), retry=False)
    except Exception:
        log.exception("could not queue a report drawing", extra={"report_file": report_file_id})
        ReportFile.objects.filter(pk=report_file_id, status=ReportFile.Status.PENDING).update(
            status=ReportFile.Status.FAILED, message=NEVER_SENT, document=None, finished_at=timezone.now()
        )


def report_file_draw(report_file_id: int) -> bool:
    """Draw a pending file (the task's work). False if there was nothing to claim: drawn, drawing, or gone."""
    now = timezone.now()
    claimed = ReportFile.objects.filter(pk=report_file_id, status=ReportFile.Status.PENDING).update(
        status=ReportFile.Status.DRAWING, started_at=now, deadline=now + DEADLINE
    )
    if claimed != 1:
        return False
    report_file = ReportFile.objects.only("deployment_id", "document").get(pk=report_file_id)
    try:
        pdf = report_pdf(report_file.document)
    except Unavailable as error:  # WeasyPrint cannot run here (Pango missing): its sentence says what to install
        return _finish(report_file, ReportFile.Status.FAILED, message=error.message)
    except SoftTimeLimitExceeded:
        log.warning("report drawing hit its time limit", extra={"report_file": report_file_id})
        return _finish(report_file, ReportFile.Status.FAILED, message=TOO_LONG)
    except Exception as error:
        log.exception("report drawing failed", extra={"report_file": report_file_id})
        return _finish(
            report_file, ReportFile.Status.FAILED,
            message=(
                f"The PDF could not be drawn ({error.__class__.__name__}: {excerpt(str(error))}). Try again; the "
                f"worker's log has the details (report file {report_file_id}), and the Markdown and JSON forms say the same."
            ),
        )
    return _finish(report_file, ReportFile.Status.READY, pdf=pdf)


def _finish(report_file: ReportFile, status: str, *, message: str = "", pdf: bytes | None = None) -> bool:
    """Record how the drawing ended; a ready file replaces the deployment's older ones."""
    with transaction.atomic():
        done = ReportFile.objects.filter(pk=report_file.pk, status=ReportFile.Status.DRAWING).update(
            status=status, message=message, pdf=pdf, document=None, finished_at=timezone.now()
        )
        if done and status == ReportFile.Status.READY:
            ReportFile.objects.filter(deployment_id=report_file.deployment_id, pk__lt=report_file.pk).delete()
    return bool(done)
