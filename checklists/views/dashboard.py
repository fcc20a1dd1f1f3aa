"""The dashboard: every service and environment with its latest deployment, in a few aggregate queries."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.selectors import readiness_board
from checklists.views.common import viewer_required


@require_GET
@viewer_required
def dashboard(request):
    return render(request, "checklists/dashboard.html", {"services": readiness_board(actor=request.user)})
