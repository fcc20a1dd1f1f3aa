"""A deployment's report as a file: `/deployments/<id>/report.pdf` (also `.md`, `.json`, `.xml` = JUnit)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from checklists.models import Deployment
from checklists.reports import FORMATS, report_filename, report_for, report_render
from checklists.views.common import viewer_required


def report_response(deployment: Deployment, fmt: str) -> HttpResponse:
    """The report in `fmt` (one of FORMATS), shown in the browser and saved under a telling name."""
    doc = report_for(deployment)
    response = HttpResponse(report_render(doc, fmt), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'inline; filename="{report_filename(doc, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@viewer_required
def deployment_report(request, pk: str, fmt: str):
    return report_response(get_object_or_404(Deployment, pk=int(pk)), fmt)
