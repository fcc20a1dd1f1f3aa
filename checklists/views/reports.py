"""A deployment's report as a file: `/deployments/<id>/report.pdf` (also `.md`, `.json`, `.xml` = JUnit)."""

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from checklists.models import Deployment
from checklists.reports import FORMATS, report_filename, report_for, report_render
from checklists.selectors import deployment_for
from checklists.views.common import signed_in


def report_response(deployment: Deployment, fmt: str) -> HttpResponse:
    """The report in `fmt` (one of FORMATS), shown in the browser and saved under a telling name."""
    doc = report_for(deployment)
    response = HttpResponse(report_render(doc, fmt), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'inline; filename="{report_filename(doc, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@signed_in
def deployment_report(request, pk: str, fmt: str):
    return report_response(deployment_for(request.user, int(pk)), fmt)
