"""Importing a checklist file: its size and name rules, and each import stored as a new version of its checklist."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from checklists.models import Checklist, ChecklistVersion, Item, Section
from checklists.parsing import MAX_BYTES, ChecklistError, ParsedChecklist, parse_checklist
from core import roles
from core.actors import actor_user
from core.errors import Conflict, InvalidInput, TooLarge
from core.events import event_append
from core.models import Event
from core.text import excerpt


@dataclass(frozen=True)
class ImportResult:
    version: ChecklistVersion
    created: bool

    def as_dict(self) -> dict:
        return {
            "checklist": self.version.checklist.slug,
            "version": self.version.number,
            "sha256": self.version.sha256,
            "counts": _ordered_counts(self.version.counts),
        }


COUNT_ORDER = ("sections", "groups", "items", "optional_items", "automated_items")


def _ordered_counts(counts: dict) -> dict:
    """The counts in the documented order (PostgreSQL's jsonb does not keep the order they were stored in)."""
    return {
        **{key: counts[key] for key in COUNT_ORDER if key in counts},
        **{key: value for key, value in counts.items() if key not in COUNT_ORDER},
    }


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def checklist_name_check(*, name: str, existing: Checklist | None = None) -> Checklist | None:
    """The checklist an import under `name` adds a version to (None: a new one).

    Two names that differ only in punctuation or symbols share a slug: the second is refused rather
    than silently becoming a version of the first. Case and spacing do not make a different name.
    """
    slug = slugify(name)
    if existing is None:
        existing = Checklist.objects.filter(slug=slug).first()
    if existing is not None and not _same_name(existing.name, name):
        raise Conflict(
            f"The name “{excerpt(name)}” gives the address `{excerpt(slug)}`, which already belongs to the "
            f"checklist “{excerpt(existing.name)}”: import under that exact name to add a version to it, "
            "or choose a name that differs in its letters or digits."
        )
    return existing


def _check_size(markdown: str | bytes) -> None:
    size = len(markdown) if isinstance(markdown, bytes) else len(markdown.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise TooLarge("The file is larger than 2 MB; split it into several checklists.")


def _source_text(markdown: str | bytes) -> str:
    """The text as stored and hashed (only called once the parser has accepted it)."""
    if isinstance(markdown, bytes):
        return markdown.decode("utf-8-sig")
    return markdown


@dataclass(frozen=True)
class _ImportSource:
    """A file accepted for import: what the parser made of it, its text and hash, and the checklist it goes to."""

    parsed: ParsedChecklist
    text: str
    sha256: str
    name: str
    slug: str


def _import_source(markdown: str | bytes, name: str) -> _ImportSource:
    """Parse a file for import and name its checklist: `name`, else the file's title; its slug is `slugify`'s.

    The one place the size limit, the parser's refusal and the name → slug rule of import are written.
    """
    _check_size(markdown)
    try:
        parsed = parse_checklist(markdown, max_items=settings.CTRLREADY_MAX_ITEMS)
    except ChecklistError as error:
        raise InvalidInput(str(error), line=error.line) from None
    text = _source_text(markdown)
    name = (name or parsed.title).strip()[:200]
    slug = slugify(name)
    if not slug:
        raise InvalidInput("The checklist name must contain letters or digits.")
    return _ImportSource(parsed, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), name, slug)


@dataclass(frozen=True)
class ImportPreview:
    """What importing a file would do, with nothing stored."""

    parsed: ParsedChecklist
    name: str  # of the checklist it goes to
    slug: str
    existing: Checklist | None  # that checklist, if it exists
    latest_version: int | None  # its latest version
    identical_version: int | None  # the version whose text is this very file, if any: importing changes nothing

    @property
    def counts(self) -> dict:
        return self.parsed.counts()

    @property
    def sections(self) -> list[dict]:
        """The top-level sections: title, optional, and how many items are under each (nested ones included)."""
        return [
            {"title": section.title, "optional": section.optional, "items": _items_under(section)}
            for section in self.parsed.sections
        ]

    def as_dict(self) -> dict:
        return {
            "checklist": self.slug,
            "name": self.name,
            "title": self.parsed.title,
            "exists": self.existing is not None,
            "latest_version": self.latest_version,
            "identical_version": self.identical_version,
            "required_roles": list(self.parsed.required_roles),
            "counts": _ordered_counts(self.counts),
            "sections": self.sections,
        }


def _items_under(section) -> int:
    def items(nodes) -> int:
        return sum(1 + items(node.children) for node in nodes)

    return items(section.items) + sum(_items_under(sub) for sub in section.sections)


def checklist_import_preview(*, markdown: str | bytes, name: str = "", actor) -> ImportPreview:
    """What `checklist_import` would do with this file: refused for the same reasons, and nothing stored."""
    roles.require(actor, "manage", team=roles.ANY)
    source = _import_source(markdown, name)
    existing = checklist_name_check(name=source.name)
    latest = identical = None
    if existing is not None:
        latest = existing.versions.aggregate(n=Max("number"))["n"]
        identical = existing.versions.filter(sha256=source.sha256).values_list("number", flat=True).first()
    return ImportPreview(source.parsed, source.name, source.slug, existing, latest, identical)


def checklist_import(*, markdown: str | bytes, name: str = "", actor, source: str) -> ImportResult:
    """Import a Markdown checklist as a new version, or give back the identical existing one.

    Checklists are shared by every team: a site admin or an admin of any team may import.
    """
    roles.require(actor, "manage", team=roles.ANY)
    accepted = _import_source(markdown, name)
    parsed, name, slug, sha256 = accepted.parsed, accepted.name, accepted.slug, accepted.sha256

    with transaction.atomic():
        checklist, _ = Checklist.objects.get_or_create(slug=slug, defaults={"name": name})
        checklist = Checklist.objects.select_for_update().get(pk=checklist.pk)
        checklist_name_check(name=name, existing=checklist)
        existing = checklist.versions.filter(sha256=sha256).first()
        if existing is not None:
            return ImportResult(version=existing, created=False)
        number = (checklist.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ChecklistVersion.objects.create(
            checklist=checklist,
            number=number,
            title=parsed.title,
            source=accepted.text,
            sha256=sha256,
            required_roles=list(parsed.required_roles),
            counts=parsed.counts(),
            description=parsed.description,
            created_by=actor_user(actor),
        )
        _store_tree(version, parsed)
        event_append(
            kind=Event.Kind.IMPORT,
            source=source,
            actor=actor,
            note=f"Imported {checklist.name} version {number}",
            data={"checklist": checklist.slug, "version": number, "sha256": sha256},
        )
    return ImportResult(version=version, created=True)


def _store_tree(version: ChecklistVersion, parsed) -> None:
    """Store sections and items level by level, so parents exist before their children."""
    sections_by_level: list[list[tuple[Section, object, object]]] = []
    position = 0

    def walk(parsed_sections, parent, depth):
        nonlocal position
        for parsed_section in parsed_sections:
            while len(sections_by_level) <= depth:
                sections_by_level.append([])
            section = Section(
                version=version,
                title=parsed_section.title,
                level=parsed_section.level,
                optional=parsed_section.optional,
                position=position,
                line=parsed_section.line,
                description=parsed_section.description,
            )
            position += 1
            sections_by_level[depth].append((section, parent, parsed_section))
            walk(parsed_section.sections, section, depth + 1)

    walk(parsed.sections, None, 0)
    section_for = {}
    for level in sections_by_level:
        for section, parent, parsed_section in level:
            section.parent = parent
            section_for[id(parsed_section)] = section
        Section.objects.bulk_create([section for section, _, _ in level])

    items_by_depth: list[list[tuple[Item, object]]] = []
    item_position = 0

    def add_items(parsed_items, section, path, parent, depth):
        nonlocal item_position
        for parsed_item in parsed_items:
            while len(items_by_depth) <= depth:
                items_by_depth.append([])
            item = Item(
                version=version,
                section=section,
                key=parsed_item.key,
                text=parsed_item.text,
                optional=parsed_item.optional,
                probe=parsed_item.probe,
                position=item_position,
                line=parsed_item.line,
                section_path=list(path),
                has_children=bool(parsed_item.children),
                scope=parsed_item.scope,
                valid_for=timedelta(seconds=parsed_item.valid_seconds) if parsed_item.valid_seconds else None,
                owner=parsed_item.owner,
            )
            item_position += 1
            items_by_depth[depth].append((item, parent))
            add_items(parsed_item.children, section, path, item, depth + 1)

    def walk_items(parsed_sections, path):
        for parsed_section in parsed_sections:
            here = (*path, parsed_section.title)
            add_items(parsed_section.items, section_for[id(parsed_section)], here, None, 0)
            walk_items(parsed_section.sections, here)

    walk_items(parsed.sections, ())
    for level in items_by_depth:
        for item, parent in level:
            item.parent = parent
        Item.objects.bulk_create([item for item, _ in level])
