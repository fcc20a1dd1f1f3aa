"""The real path of a PDF report: a request → Redis → a Celery worker process drawing it → the kept file served."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from checklists.models import ReportFile
from checklists.report_files import DRAW_TASK
from checklists.tests.test_report_pdf import pdf_text
from core.queue import task_send
from probes.tests.worker import Worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_draws_the_pdf_the_next_ask_serves_and_a_redelivered_task_changes_nothing(client, people, deployment, queue):
    url = reverse("deployment-report", args=[deployment.pk, "pdf"])
    client.force_login(people["viewer"])
    worker = Worker(connection, queue).start()
    try:
        waiting = client.get(url)
        assert waiting.status_code == 202 and "The PDF is being drawn" in waiting.content.decode()
        assert client.get(url).status_code in (200, 202)  # asked again meanwhile: still one file, one drawing
        assert wait_until(lambda: ReportFile.objects.filter(status="ready").exists(), timeout=60), worker.log.read_text()[-3000:]
        report_file = ReportFile.objects.get()
        kept, finished = bytes(report_file.pdf), report_file.finished_at

        served = client.get(url)
        assert served.status_code == 200 and served["Content-Type"] == "application/pdf" and served.content == kept
        text = pdf_text(served.content)
        assert "v1.0.0" in text and "Rollback plan ready" in text

        task_send(DRAW_TASK, args=(report_file.pk,))  # delivered again, after the drawing
        assert wait_until(lambda: worker.log.read_text().count("s: False") >= 1, timeout=30), worker.log.read_text()[-3000:]
    finally:
        worker.stop()
    outcomes = re.findall(r"draw_report\[[^\]]+\] succeeded in [0-9.]+s: (True|False)", worker.log.read_text())
    assert outcomes == ["True", "False"]  # drawn once; the copy delivered again found nothing to claim
    report_file.refresh_from_db()
    assert (report_file.status, bytes(report_file.pdf), report_file.finished_at) == ("ready", kept, finished)
    assert ReportFile.objects.count() == 1
