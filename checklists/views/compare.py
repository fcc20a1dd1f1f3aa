"""Two deployments side by side (`/deployments/<a>/compare/<b>/`), and promoting a release onwards."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from checklists.deployments import deployment_create
from checklists.selectors import deployment_compare, deployment_for, environment_for
from checklists.views.common import signed_in
from core.errors import InvalidInput
from core.models import Source

SHOWN = {"": "All", "changed": "Changed only"}


@require_GET
@signed_in
def compare(request, a: int, b: int):
    comparison = deployment_compare(deployment_for(request.user, a), deployment_for(request.user, b))
    show = request.GET.get("show", "")
    if show not in SHOWN:
        show = ""
    items = [item for item in comparison.items if item.change != "same"] if show else comparison.items
    return render(request, "checklists/compare.html", {
        "comparison": comparison,
        "a": comparison.a,
        "b": comparison.b,
        "items": items,
        "summary": comparison.summary,
        "show": show,
        "shown": SHOWN,
        "same_release": comparison.a.release == comparison.b.release,
    })


@require_POST
@signed_in
def promote(request, pk: int):
    """Start a deployment of this signed-off release in another environment, carrying its evidence over."""
    origin = deployment_for(request.user, pk)
    environment_id = request.POST.get("environment", "")
    if not environment_id.isdigit() or len(environment_id) > 18:
        raise InvalidInput("Choose the environment to promote the release to.")
    environment = environment_for(request.user, int(environment_id))
    deployment = deployment_create(
        environment=environment, from_id=origin.pk, actor=request.user, source=Source.WEB,
    )
    carried = deployment.states.exclude(carried_from=None).count()
    messages.success(
        request,
        f"{deployment.release} promoted to {environment.name}: {carried} item{'s' if carried != 1 else ''} carried over.",
    )
    return redirect("deployment", pk=deployment.pk)
