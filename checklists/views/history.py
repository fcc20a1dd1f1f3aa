"""A deployment's history: its events, newest first, filtered by item, person and kind."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from checklists.forms import HistoryFilterForm
from checklists.models import Deployment
from checklists.selectors import deployment_relations
from checklists.views.common import viewer_required
from core.models import Event

PER_PAGE = 50


@require_GET
@viewer_required
def deployment_history(request, pk: int):
    deployment = get_object_or_404(Deployment.objects.select_related("environment__service", "version__checklist"), pk=pk)
    events = Event.objects.filter(deployment_ref=pk)
    form = HistoryFilterForm(request.GET)
    form.is_valid()
    chosen = {name: (form.cleaned_data.get(name) or "").strip() for name in ("item", "person", "kind")}
    options = {
        "item": events.exclude(item_key="").order_by("item_key").values_list("item_key", flat=True).distinct(),
        "person": events.order_by("actor_name").values_list("actor_name", flat=True).distinct(),
    }
    filtered = events
    if chosen["item"]:
        filtered = filtered.filter(item_key=chosen["item"])
    if chosen["person"]:
        filtered = filtered.filter(actor_name=chosen["person"])
    if chosen["kind"]:
        filtered = filtered.filter(kind=chosen["kind"])
    page = Paginator(filtered.order_by("-at", "-id"), PER_PAGE).get_page(request.GET.get("page"))
    relations = deployment_relations(deployment)
    return render(
        request,
        "checklists/history.html",
        {
            "deployment": deployment,
            "page": page,
            "chosen": chosen,
            "filtered": any(chosen.values()),
            "items": list(options["item"]),
            "people": list(options["person"]),
            "kinds": Event.Kind.choices,
            "relations": relations,
        },
    )
