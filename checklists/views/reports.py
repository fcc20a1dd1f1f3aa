"""A deployment's report as a file: `/deployments/<id>/report.pdf` (also `.md`, `.json`, `.xml` = JUnit).

The Markdown, JSON and XML are written in the request. The PDF is drawn by a worker and kept
(`checklists.report_files`): asking for it serves the kept file when there is one for the deployment
as it stands, and otherwise answers a page saying it is being drawn, which refreshes itself — htmx
polls its status every 2 s while the drawing runs (a `<noscript>` refresh without JavaScript) —
and turns into a download link when the file is ready, or into the reason with "Try again" (a POST)
when it failed.
"""

from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from checklists.models import Deployment, ReportFile
from checklists.report_files import report_file_outcome, report_file_pdf, report_file_polled, report_file_request
from checklists.reports import FORMATS, report_filename, report_for, report_render
from checklists.selectors import deployment_for
from checklists.views.common import signed_in

TEMPLATE = "checklists/report_pdf.html"


def _file_response(deployment: Deployment, fmt: str, body: bytes) -> HttpResponse:
    """The report in `fmt`, shown in the browser and saved under a telling name."""
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'inline; filename="{report_filename(deployment, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def report_response(deployment: Deployment, fmt: str) -> HttpResponse:
    """The report in one of the forms written in the request: `json`, `md` or `xml`."""
    return _file_response(deployment, fmt, report_render(report_for(deployment), fmt))


def pdf_response(deployment: Deployment, report_file: ReportFile) -> HttpResponse:
    """A ready file's PDF."""
    return _file_response(deployment, "pdf", report_file_pdf(report_file))


def _polled(request, deployment: Deployment) -> ReportFile | None:
    """The file a waiting page polls (`?file=<id>` over htmx), read without reading the report."""
    polled = request.GET.get("file", "") if request.htmx and request.method == "GET" else ""
    if not (polled.isdigit() and len(polled) < 19):
        return None
    return report_file_polled(deployment=deployment, report_file_id=int(polled))


@require_http_methods(["GET", "POST"])
@signed_in
def deployment_report(request, pk: str, fmt: str):
    deployment = deployment_for(request.user, int(pk))
    if fmt != "pdf":
        if request.method == "POST":
            return HttpResponseNotAllowed(["GET"])
        return report_response(deployment, fmt)
    report_file = _polled(request, deployment) or report_file_request(deployment=deployment, again=request.method == "POST")
    status, message = report_file_outcome(report_file)
    if request.method == "POST" and not request.htmx:
        return redirect("deployment-report", deployment.pk, "pdf")
    if status == ReportFile.Status.READY and not request.htmx:
        return pdf_response(deployment, report_file)
    url = reverse("deployment-report", args=[deployment.pk, "pdf"])
    context = {
        "deployment": deployment,
        "report_file": report_file,
        "status": status,
        "message": message,
        "under_way": status in (ReportFile.Status.PENDING, ReportFile.Status.DRAWING),
        "url": url,
        "poll_url": f"{url}?file={report_file.pk}",
    }
    if request.htmx:
        return render(request, f"{TEMPLATE}#status", context)
    return render(request, TEMPLATE, context, status=503 if status == ReportFile.Status.FAILED else 202)
