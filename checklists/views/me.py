"""`/me/`: what waits on the person looking."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.views.common import viewer_required
from checklists.waiting import waiting_on


@require_GET
@viewer_required
def me(request):
    return render(request, "checklists/me.html", {"waiting": waiting_on(request.user)})
