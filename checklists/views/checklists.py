"""Checklists: the list, import with a preview step, one checklist's versions, and the diff of two."""

import base64
import binascii

from django.contrib import messages
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from checklists.forms import ImportForm
from checklists.imports import checklist_import, checklist_import_preview
from checklists.models import Checklist, ChecklistVersion
from checklists.selectors import version_diff, version_outline
from checklists.views.common import viewer_required
from core import roles
from core.errors import Conflict, InvalidInput, NotFound, TooLarge
from core.models import Source


def _checklists():
    return Checklist.objects.annotate(version_count=Count("versions"), latest=Max("versions__number")).order_by("name")


@require_http_methods(["GET", "POST"])
@viewer_required
def checklist_list(request):
    context = {"checklists": _checklists(), "form": ImportForm()}
    if request.method == "GET":
        return render(request, "checklists/checklists.html", context)
    roles.require(request.user, "manage", team=roles.ANY)
    if request.POST.get("step") == "confirm":
        return _import_confirm(request)
    form = ImportForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return render(request, "checklists/checklists.html", context, status=400)
    data = form.source()
    name = form.cleaned_data["name"]
    context["source"], context["name"] = base64.b64encode(data).decode("ascii"), name
    try:
        context["preview"] = checklist_import_preview(markdown=data, name=name, actor=request.user)
    except (InvalidInput, TooLarge, Conflict) as error:
        line = error.extra.get("line")
        message = error.message.removeprefix(f"line {line}: ") if line else error.message
        context["errors"] = [{"line": line, "message": message}]
        return render(request, "checklists/checklists.html", context, status=400)
    return render(request, "checklists/checklists.html", context)


def _import_confirm(request):
    try:
        data = base64.b64decode(request.POST.get("source", ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("The previewed file was lost on the way; upload or paste it again.") from None
    if not data:
        raise InvalidInput("There is nothing to import; upload or paste a checklist and preview it first.")
    result = checklist_import(
        markdown=data, name=request.POST.get("name", ""), actor=request.user, source=Source.WEB
    )
    version = result.version
    if result.created:
        messages.success(request, f"Imported {version.checklist.name} as version {version.number}.")
    else:
        messages.info(request, f"This text is already version {version.number} of {version.checklist.name}; nothing changed.")
    return redirect("checklist", slug=version.checklist.slug)


@require_GET
@viewer_required
def checklist_detail(request, slug: str):
    checklist = get_object_or_404(Checklist, slug=slug)
    versions = list(checklist.versions.select_related("created_by").order_by("-number"))
    shown = versions[0] if versions else None
    if request.GET.get("version"):
        shown = next((v for v in versions if str(v.number) == request.GET["version"]), None)
        if shown is None:
            raise NotFound(f"{checklist.name} has no version {request.GET['version']}.")
    sections = version_outline(shown.pk, items=True) if shown is not None else []
    outline = [(min(3 + section.depth, 6), section) for section in sections]  # (heading level, section)
    return render(
        request,
        "checklists/checklist.html",
        {
            "checklist": checklist,
            "versions": versions,
            "shown": shown,
            "outline": outline,
            "diff_from": versions[1].number if len(versions) > 1 else None,
            "diff_to": versions[0].number if versions else None,
        },
    )


def _version(checklist: Checklist, raw: str | None, which: str) -> ChecklistVersion:
    try:
        number = int(raw or "")
    except ValueError:
        raise InvalidInput(f"Choose the `{which}` version to compare, e.g. ?from=1&to=2.") from None
    version = checklist.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"{checklist.name} has no version {number}.")
    return version


@require_GET
@viewer_required
def checklist_diff(request, slug: str):
    checklist = get_object_or_404(Checklist, slug=slug)
    before = _version(checklist, request.GET.get("from"), "from")
    after = _version(checklist, request.GET.get("to"), "to")
    return render(
        request,
        "checklists/diff.html",
        {
            "checklist": checklist,
            "diff": version_diff(before, after),
            "versions": list(checklist.versions.order_by("-number").values_list("number", flat=True)),
        },
    )
