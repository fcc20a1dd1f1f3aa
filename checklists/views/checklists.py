"""Checklists: the list, import with a preview step, one checklist's versions, and the diff of two."""

import base64
import binascii

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from checklists.forms import ImportForm
from checklists.models import Checklist, ChecklistVersion, Item, Section
from checklists.parsing import ChecklistError, parse_checklist
from checklists.selectors import version_diff
from checklists.services import checklist_import, checklist_name_check
from checklists.views.common import viewer_required
from core import roles
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Source


def _checklists():
    return Checklist.objects.annotate(version_count=Count("versions"), latest=Max("versions__number")).order_by("name")


@require_http_methods(["GET", "POST"])
@viewer_required
def checklist_list(request):
    context = {"checklists": _checklists(), "form": ImportForm()}
    if request.method == "GET":
        return render(request, "checklists/checklists.html", context)
    roles.require(request.user, "manage")
    if request.POST.get("step") == "confirm":
        return _import_confirm(request)
    form = ImportForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return render(request, "checklists/checklists.html", context, status=400)
    data = form.source()
    context["preview"] = preview = {"source": base64.b64encode(data).decode("ascii"), "name": form.cleaned_data["name"]}
    try:
        parsed = parse_checklist(data, max_items=settings.CTRLREADY_MAX_ITEMS)
        name = (form.cleaned_data["name"] or parsed.title).strip()
        checklist_name_check(name=name)
    except (ChecklistError, Conflict) as error:
        preview["errors"] = [{"line": getattr(error, "line", None), "message": error.message}]
        return render(request, "checklists/checklists.html", context, status=400)
    existing = Checklist.objects.filter(slug=slugify(name)).annotate(latest=Max("versions__number")).first()
    preview.update(
        parsed=parsed,
        counts=parsed.counts(),
        checklist_name=name,
        existing=existing,
        sections=[
            {"title": section.title, "optional": section.optional, "items": _count_items(section)}
            for section in parsed.sections
        ],
    )
    return render(request, "checklists/checklists.html", context)


def _count_items(section) -> int:
    def items(nodes):
        return sum(1 + items(node.children) for node in nodes)

    return items(section.items) + sum(_count_items(sub) for sub in section.sections)


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
    sections, items = [], []
    if shown is not None:
        sections = list(Section.objects.filter(version=shown).order_by("position"))
        items = list(Item.objects.filter(version=shown).order_by("position"))
    outline = []
    by_section: dict[int, list] = {}
    depth_of: dict[int, int] = {}
    for item in items:
        depth_of[item.pk] = depth_of[item.parent_id] + 1 if item.parent_id in depth_of else 0
        item.depth = depth_of[item.pk]
        by_section.setdefault(item.section_id, []).append(item)
    level_of: dict[int, int] = {}
    for section in sections:
        level_of[section.pk] = level_of[section.parent_id] + 1 if section.parent_id in level_of else 0
        outline.append({"section": section, "heading": min(3 + level_of[section.pk], 6), "items": by_section.get(section.pk, [])})
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
