"""A deployment's history: its events, newest first, filtered by item, person and kind."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists import selectors
from checklists.forms import HistoryFilterForm
from checklists.views.common import signed_in
from core.models import Event


def _cursor(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@require_GET
@signed_in
def deployment_history(request, pk: int):
    deployment = selectors.deployment_for(request.user, pk)
    form = HistoryFilterForm(request.GET)
    form.is_valid()
    chosen = {name: (form.cleaned_data.get(name) or "").strip() for name in ("item", "person", "kind")}
    found = selectors.deployment_history(
        deployment, **chosen, before=_cursor(request.GET.get("before")), after=_cursor(request.GET.get("after"))
    )
    relations = selectors.deployment_relations(deployment)
    return render(
        request,
        "checklists/history.html",
        {
            "deployment": deployment,
            "page": found.page,
            "chosen": chosen,
            "filtered": any(chosen.values()),
            "items": found.items,
            "people": found.people,
            "kinds": Event.Kind.choices,
            "relations": relations,
        },
    )
