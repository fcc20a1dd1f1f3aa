"""The PDF report is drawn by a worker and kept: asked for, queued once, drawn, served until the deployment changes.

The drawing is the task itself (`checklists.tasks.draw_report`) run here with real WeasyPrint; the queue
records what was sent (`report_queue`). `test_report_worker.py` does the same through a real worker.
"""

import shutil
import subprocess
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from checklists import report_files
from checklists.deployments import deployment_create
from checklists.items import item_state_set
from checklists.models import ReportFile
from checklists.reports import report_content_sha256, report_for, report_pdf
from checklists.selectors import deployment_snapshot
from checklists.signoffs import signoff_record
from checklists.tasks import draw_report
from core.errors import Unavailable
from core.models import Membership, Team


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """`ask(deployment, method="get", **extra)`: the PDF's address asked as the logged-in client; what it
    queues is sent when its transaction commits, as in production."""

    def call(deployment, method="get", **extra):
        url = reverse("deployment-report", args=[deployment.pk, "pdf"])
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(client, method)(url, **extra)

    return call


def pdf_text(data: bytes) -> str:
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (Debian's poppler-utils) is needed; .ci/run installs it"
    return " ".join(subprocess.run([pdftotext, "-", "-"], input=data, capture_output=True, check=True).stdout.decode().split())


def test_first_ask_queues_the_drawing_and_answers_a_page_that_polls_until_the_pdf_is_ready(
    client, people, deployment, report_queue, ask
):
    client.force_login(people["viewer"])
    waiting = ask(deployment)
    assert waiting.status_code == 202 and waiting["Content-Type"].startswith("text/html")
    page = waiting.content.decode()
    report_file = ReportFile.objects.get()
    assert report_queue == [report_file.pk] and report_file.status == "pending"
    assert "The PDF is being drawn: it waits for a worker." in page
    poll = f'hx-get="/deployments/{deployment.pk}/report.pdf?file={report_file.pk}" hx-trigger="every 2s"'
    assert poll in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page  # without JavaScript, it reloads

    # The poll reads the file by its id, not the report: one small answer, still polling.
    htmx = {"HTTP_HX_REQUEST": "true"}
    polled = client.get(f"/deployments/{deployment.pk}/report.pdf?file={report_file.pk}", **htmx)
    assert polled.status_code == 200 and poll in polled.content.decode() and "<html" not in polled.content.decode()

    assert draw_report(report_file.pk) is True
    ready = client.get(f"/deployments/{deployment.pk}/report.pdf?file={report_file.pk}", **htmx).content.decode()
    assert "hx-trigger" not in ready  # it stops polling by rendering the element without its trigger
    assert f'href="/deployments/{deployment.pk}/report.pdf" download>Download the report (PDF)</a>' in ready

    served = client.get(reverse("deployment-report", args=[deployment.pk, "pdf"]))
    assert served.status_code == 200 and served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"] == f'inline; filename="ctrlchecks-api-staging-v1.0.0-{deployment.pk}-report.pdf"'
    text = pdf_text(served.content)
    assert served.content.startswith(b"%PDF-") and "v1.0.0" in text and "Rollback plan ready" in text
    report_file.refresh_from_db()
    assert report_file.report_sha256 in text.replace(" ", "")  # the reading it was drawn from, printed
    assert report_queue == [report_file.pk]  # served from the kept file: nothing queued


def test_asking_twice_while_it_is_drawn_queues_one_drawing(client, people, deployment, report_queue, ask):
    client.force_login(people["viewer"])
    assert ask(deployment).status_code == 202
    assert ask(deployment).status_code == 202
    client.force_login(people["lead"])
    assert ask(deployment).status_code == 202
    assert ReportFile.objects.count() == 1 and len(report_queue) == 1


def test_a_tick_changes_the_report_so_the_next_ask_draws_anew_and_only_the_latest_file_is_kept(
    client, people, deployment, report_queue, ask
):
    client.force_login(people["viewer"])
    ask(deployment)
    draw_report(report_queue[0])
    before = ask(deployment)
    assert before.status_code == 200 and "Rehearsed on staging" not in pdf_text(before.content)

    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", note="Rehearsed on staging",
                   actor=people["engineer"], source="api")
    waiting = ask(deployment)
    assert waiting.status_code == 202 and len(report_queue) == 2
    first, second = ReportFile.objects.order_by("pk")
    assert first.status == "ready" and second.status == "pending" and first.content_sha256 != second.content_sha256

    draw_report(report_queue[1])
    after = ask(deployment)
    assert after.status_code == 200 and "Rehearsed on staging" in pdf_text(after.content)
    assert list(ReportFile.objects.values_list("pk", "status")) == [(second.pk, "ready")]  # the older one is gone


def test_a_signed_off_deployments_pdf_is_drawn_once_and_kept(client, people, ready_deployment, report_queue, ask, clock):
    deployment = ready_deployment
    signoff_record(deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
                   comment="Go", actor=people["lead"], source="web")
    client.force_login(people["viewer"])
    ask(deployment)
    draw_report(report_queue[0])
    first = ask(deployment)
    assert first.status_code == 200 and "Signed off" in pdf_text(first.content)

    clock(hours=3)  # its probe result would be stale by now, were it not signed off as it stood
    later = ask(deployment)
    assert later.status_code == 200 and later.content == first.content
    assert len(report_queue) == 1 and ReportFile.objects.count() == 1


def test_an_open_deployment_whose_result_goes_stale_gets_a_new_pdf(client, people, ready_deployment, report_queue, ask, clock):
    client.force_login(people["viewer"])
    ask(ready_deployment)
    draw_report(report_queue[0])
    assert ask(ready_deployment).status_code == 200
    clock(hours=3)  # the passing probe result is older than the freshness window now: the report says so
    assert ask(ready_deployment).status_code == 202 and len(report_queue) == 2


def test_the_task_redelivered_after_the_drawing_or_during_it_does_nothing(client, people, deployment, report_queue, ask):
    client.force_login(people["viewer"])
    ask(deployment)
    report_file = ReportFile.objects.get()
    assert draw_report(report_file.pk) is True
    kept = bytes(ReportFile.objects.get().pdf)
    finished = ReportFile.objects.get().finished_at
    assert draw_report(report_file.pk) is False  # redelivered after it was drawn
    assert bytes(ReportFile.objects.get().pdf) == kept and ReportFile.objects.get().finished_at == finished

    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    ask(deployment)
    drawing = ReportFile.objects.get(status="pending")
    ReportFile.objects.filter(pk=drawing.pk).update(status="drawing")  # another copy of the task claimed it
    assert draw_report(drawing.pk) is False
    assert ReportFile.objects.get(pk=drawing.pk).status == "drawing" and ReportFile.objects.get(pk=drawing.pk).pdf is None
    assert draw_report(987654) is False  # a file deleted since (a newer one was ready first)


def test_a_failed_drawing_shows_its_reason_and_trying_again_queues_it_once_more(
    client, people, deployment, report_queue, ask, monkeypatch
):
    def broken(doc):
        raise RuntimeError("cairo surface exploded")

    monkeypatch.setattr("checklists.report_files.report_pdf", broken)
    client.force_login(people["viewer"])
    ask(deployment)
    report_file = ReportFile.objects.get()
    assert draw_report(report_file.pk) is True  # claimed, and ended
    report_file.refresh_from_db()
    assert report_file.status == "failed" and report_file.document is None and report_file.pdf is None
    assert report_file.message.startswith("The PDF could not be drawn (RuntimeError: cairo surface exploded). Try again;")

    failed = ask(deployment)
    page = failed.content.decode()
    assert failed.status_code == 503 and escape(report_file.message) in page
    assert "hx-trigger" not in page and "http-equiv" not in page  # nothing to wait for
    assert 'method="post"' in page and ">Try again</button>" in page
    assert len(report_queue) == 1  # asking again by GET shows the failure; it does not draw again by itself

    monkeypatch.setattr("checklists.report_files.report_pdf", report_pdf)  # mended
    again = ask(deployment, "post")
    assert again.status_code == 302 and again["Location"] == f"/deployments/{deployment.pk}/report.pdf"
    report_file.refresh_from_db()
    assert report_queue == [report_file.pk] * 2 and (report_file.status, report_file.message) == ("pending", "")
    pressed_twice = ask(deployment, "post", HTTP_HX_REQUEST="true")
    assert pressed_twice.status_code == 200 and 'hx-trigger="every 2s"' in pressed_twice.content.decode()
    assert len(report_queue) == 2  # pending already: not queued twice
    assert draw_report(report_file.pk) is True
    assert ask(deployment)["Content-Type"] == "application/pdf"


def test_a_drawing_past_its_time_limit_is_stopped_and_says_so(client, people, deployment, report_queue, ask, monkeypatch):
    def endless(doc):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("checklists.report_files.report_pdf", endless)
    client.force_login(people["viewer"])
    ask(deployment)
    draw_report(report_queue[0])
    assert ReportFile.objects.get().message == report_files.TOO_LONG
    assert "took longer than 9 minutes, so it was stopped" in ask(deployment).content.decode()


def test_a_server_without_pango_says_what_to_install(client, people, deployment, report_queue, ask, monkeypatch):
    def no_pango(doc):
        raise Unavailable("PDF reports need Pango on the server (Debian: libpango-1.0-0 libpangoft2-1.0-0); the other formats work. (OSError)")

    monkeypatch.setattr("checklists.report_files.report_pdf", no_pango)
    client.force_login(people["viewer"])
    ask(deployment)
    draw_report(report_queue[0])
    assert "PDF reports need Pango on the server" in ask(deployment).content.decode()


def test_a_file_no_worker_finished_by_its_deadline_is_shown_as_lost_and_can_be_drawn_again(
    client, people, deployment, report_queue, ask, clock
):
    client.force_login(people["viewer"])
    ask(deployment)
    report_file = ReportFile.objects.get()
    ReportFile.objects.filter(pk=report_file.pk).update(status="drawing")  # its worker was killed mid-drawing
    clock(seconds=report_files.DRAW_HARD_SECONDS + 61)
    lost = ask(deployment)
    assert lost.status_code == 503 and "No worker finished drawing the PDF in time" in lost.content.decode()
    assert ask(deployment, "post").status_code == 302 and report_queue == [report_file.pk, report_file.pk]
    assert draw_report(report_file.pk) is True


def test_with_the_queue_down_the_pdf_is_refused_with_a_sentence_and_nothing_is_stored(
    client, api, people, deployment, monkeypatch, ask
):
    monkeypatch.setattr("checklists.report_files.broker_reachable", lambda timeout=2.0: False)
    client.force_login(people["viewer"])
    refused = ask(deployment)
    assert refused.status_code == 503 and report_files.QUEUE_DOWN in refused.content.decode()
    answer = api.get("viewer", f"deployments/{deployment.pk}/report.pdf")
    assert answer.status_code == 503 and answer.json() == {"error": report_files.QUEUE_DOWN}
    assert not ReportFile.objects.exists()
    assert client.get(reverse("deployment-report", args=[deployment.pk, "md"])).status_code == 200


def test_a_queue_lost_between_the_check_and_the_send_fails_the_file_with_a_sentence(
    client, people, deployment, monkeypatch, ask
):
    def unreachable(name, *, args=(), **options):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr("checklists.report_files.broker_reachable", lambda timeout=2.0: True)
    monkeypatch.setattr("checklists.report_files.task_send", unreachable)
    client.force_login(people["viewer"])
    ask(deployment)
    assert (ReportFile.objects.get().status, ReportFile.objects.get().message) == ("failed", report_files.NEVER_SENT)
    assert report_files.NEVER_SENT in ask(deployment).content.decode()


def test_the_api_answers_202_while_it_is_drawn_then_the_pdf_and_503_with_the_reason_if_it_failed(
    api, people, deployment, report_queue, monkeypatch, django_capture_on_commit_callbacks
):
    path = f"deployments/{deployment.pk}/report.pdf"
    with django_capture_on_commit_callbacks(execute=True):
        pending = api.get("viewer", path)
    assert pending.status_code == 202 and pending["Retry-After"] == "2"
    body = pending.json()
    report_file = ReportFile.objects.get()
    assert (body["status"], body["message"], body["sha256"]) == ("pending", "", report_file.report_sha256)
    assert report_queue == [report_file.pk]

    monkeypatch.setattr("checklists.report_files.report_pdf", lambda doc: 1 / 0)
    draw_report(report_file.pk)
    failed = api.get("viewer", path)
    assert failed.status_code == 503
    assert failed.json()["error"].startswith("The PDF could not be drawn (ZeroDivisionError: division by zero).")
    assert failed.json()["error"].endswith(f"To draw it again: POST /api/v1/deployments/{deployment.pk}/report.pdf.")
    monkeypatch.setattr("checklists.report_files.report_pdf", report_pdf)

    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("viewer", path)  # whoever may read the deployment may ask for its report
    assert again.status_code == 202 and again.json()["status"] == "pending" and report_queue == [report_file.pk] * 2
    draw_report(report_file.pk)
    served = api.get("viewer", path)
    assert served.status_code == 200 and served["Content-Type"] == "application/pdf" and served.content.startswith(b"%PDF-")
    assert api.post("viewer", path).status_code == 200  # ready: nothing to draw
    assert api.post("viewer", f"deployments/{deployment.pk}/report.json").status_code == 400  # only the PDF is drawn


@pytest.fixture
def teams(people, deployment):
    """The deployment's service belongs to Platform: `reader` is its viewer; `other-lead` leads Billing."""
    platform = Team.objects.create(slug="platform", name="Platform")
    billing = Team.objects.create(slug="billing", name="Billing")
    deployment.environment.service.team = platform
    deployment.environment.service.save()
    reader = User.objects.create_user("reader", password="pw")
    other = User.objects.create_user("other-lead", password="pw")
    Membership.objects.create(team=platform, user=reader, role="viewer")
    Membership.objects.create(team=billing, user=other, role="lead")
    return {"reader": reader, "other-lead": other}


def test_whoever_reads_the_deployment_gets_its_pdf_and_nobody_else_learns_it_exists(
    client, deployment, teams, report_queue, ask
):
    client.force_login(teams["reader"])
    assert ask(deployment).status_code == 202
    draw_report(report_queue[0])
    assert ask(deployment)["Content-Type"] == "application/pdf"

    client.force_login(teams["other-lead"])
    for method in ("get", "post"):
        refused = ask(deployment, method)
        assert refused.status_code == 404 and b"belongs to a team you are not in" in refused.content
    file_id = ReportFile.objects.get().pk
    assert client.get(f"/deployments/{deployment.pk}/report.pdf?file={file_id}", HTTP_HX_REQUEST="true").status_code == 404

    client.logout()
    for method in ("get", "post"):
        anonymous = ask(deployment, method)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login") + "?next=")
    assert len(report_queue) == 1


def test_a_polled_file_id_of_another_deployment_reads_nothing_of_it(client, people, deployment, report_queue, ask, environment):
    other = deployment_create(environment=environment, checklist_slug="small-checklist", release="v2.0.0",
                              actor=people["engineer"], source="api")
    client.force_login(people["viewer"])
    ask(other)
    theirs = ReportFile.objects.get(deployment=other)
    polled = client.get(f"/deployments/{deployment.pk}/report.pdf?file={theirs.pk}", HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and f"?file={theirs.pk}" not in polled.content.decode()
    assert ReportFile.objects.filter(deployment=deployment).count() == 1  # asked for its own instead
    huge = client.get(f"/deployments/{deployment.pk}/report.pdf?file={'9' * 30}", HTTP_HX_REQUEST="true")
    assert huge.status_code == 200 and ReportFile.objects.filter(deployment=deployment).count() == 1


def test_the_content_key_leaves_out_only_the_moment(deployment):
    first = report_for(deployment)
    later = report_for(deployment)
    assert first["deployment"]["as_of"] != later["deployment"]["as_of"] and first["sha256"] != later["sha256"]
    assert report_content_sha256(first) == report_content_sha256(later)
    renamed = {**first, "deployment": {**first["deployment"], "service": "renamed-api"}}
    assert report_content_sha256(renamed) != report_content_sha256(first)


def test_deadline_is_judged_when_read(deployment, report_queue):
    report_file = report_files.report_file_request(deployment=deployment)
    assert report_files.report_file_outcome(report_file) == ("pending", "")
    late = timezone.now() + report_files.DEADLINE + timedelta(seconds=1)
    assert report_files.report_file_outcome(report_file, now=late) == ("failed", report_files.LOST)
