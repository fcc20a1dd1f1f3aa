"""The dashboard: every service and environment with its latest deployment, in a few aggregate queries."""

from django.db.models import OuterRef, Subquery
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.models import Deployment, Environment, Service
from checklists.selectors import deployment_summaries
from checklists.views.common import viewer_required


@require_GET
@viewer_required
def dashboard(request):
    latest = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    environments = list(Environment.objects.select_related("service").annotate(latest_id=Subquery(latest)))
    ids = [env.latest_id for env in environments if env.latest_id]
    deployments = Deployment.objects.select_related("version__checklist").in_bulk(ids)
    summaries = deployment_summaries(ids)
    by_service: dict[int, list] = {}
    for env in environments:
        env.latest = deployments.get(env.latest_id)
        env.summary = summaries.get(env.latest_id) if env.latest_id else None
        by_service.setdefault(env.service_id, []).append(env)
    services = [(service, by_service.get(service.pk, [])) for service in Service.objects.order_by("name")]
    return render(request, "checklists/dashboard.html", {"services": services})
