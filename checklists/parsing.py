"""Parse a Markdown readiness checklist into plain, frozen dataclasses.

This module is a pure core: it imports no Django, takes text or bytes and returns a
``ParsedChecklist`` or raises ``ChecklistError`` (a ``ValueError``) with a sentence a person
can act on and, where known, the line it is about. Nothing else escapes for any input.

The Markdown is read with markdown-it-py's CommonMark token stream, so "what is an item" is
exactly what a Git host renders as a task-list checkbox. The choices where the format is open:

- The title is the first ``#`` heading (setext ``===`` too). A file without one is refused.
  A later ``#`` heading is a top-level section like ``##``; headings nest by level.
- A heading whose text contains "(Optional" (any case) makes everything below it optional.
  The title itself never does.
- Items directly under the title, before any section, go into an implicit level-2 section
  named like the checklist. A heading with no items under it (a "References" list of links) is
  still a section.
- The prose under a heading — every line down to the next heading except items (with everything
  nested in them) and HTML comments — is its description, as Markdown; the prose under the title
  is the checklist's.
- An item is a list item whose first paragraph starts with ``[ ]``, ``[x]`` or ``[X]`` and
  whitespace. Its parent is the nearest enclosing item, even through a plain bullet between
  them. Lists inside block quotes are quotations, not items. An item with no text, or with
  more than MAX_TEXT characters, is refused; so are lists nested deeper than markdown-it reads
  (it would silently drop them).
- Item text is the inline Markdown as written, with lines joined by a space, without the box,
  without a trailing ``{#key}`` and without HTML comments (they render as nothing).
- Generated keys slug the *rendered* text (code and link text, no URLs), so editing a link
  target keeps the key. Every slug part is cut to 60 characters and a whole key to 200;
  a section titled only with punctuation slugs to "section", an item to "item".
- A ``<!-- probe ... -->`` comment belongs to the item it follows when nothing but other
  comments and closing list markup stands between them (a blank line is fine). Anywhere else
  it is refused. ``<!-- ctrlready ... -->`` may appear once, anywhere.
- An ``<!-- item ... -->`` comment follows its item like a probe comment and holds the item's
  evidence settings: ``scope`` (``environment``, the default, or ``release``), ``valid`` (a
  duration such as ``90d`` or ``12h``, for manual items only) and ``owner`` (a username).
- ``<!-- ctrlready owner: username -->`` in a heading, or on its own after a heading, names the default
  owner of every item under that heading (its subsections' too, unless they name their own); before
  the first section, of the whole checklist. An item's own ``owner`` wins, and a child item without one
  takes its parent's. ``signoff`` may be set once in the file; ``owner`` once per heading.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

import ftfy
from markdown_it import MarkdownIt
from markdown_it.token import Token

from checklists.annotations import AnnotationError, load_annotation
from checklists.spec import ProbeSpecError, validate_probe
from core.text import excerpt

MAX_BYTES = 2 * 1024 * 1024
MAX_TEXT = 5_000
MAX_NESTING = 50
MAX_KEY_LENGTH = 200
MAX_ITEMS = 5_000
SLUG_LENGTH = 60
SIGNOFF_ROLES = ("engineer", "lead", "admin")
DEFAULT_ROLES = ("lead",)
SCOPE_ENVIRONMENT, SCOPE_RELEASE = "environment", "release"
SCOPES = (SCOPE_ENVIRONMENT, SCOPE_RELEASE)
ITEM_SETTINGS = ("scope", "valid", "owner")
DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_VALID_SECONDS = 3660 * 86400  # ten years and a bit: anything longer is a typo

KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
_TRAILING_KEY = re.compile(r"[ \t]*(?<!\\)\{#([^{}\n]*)\}[ \t]*\Z")
_BOX = re.compile(r"\[[ xX]\](?:\s+|\Z)")
_LINE_JOIN = re.compile(r"[ \t]*\n[ \t]*")
_COMMENT_WORD = re.compile(r"\s*(probe|ctrlready|item)(?=\s|\Z)")
_OPEN_COMMENT = re.compile(r"(?<!\\)<!--\s*(probe|ctrlready|item)(?=\s|\Z)")
_LEADING_WS = re.compile(r"[ \t]*")
_DURATION = re.compile(r"([0-9]{1,6})\s*([mhdw])\Z")
_OWNER = re.compile(r"[\w.@+-]{1,150}\Z")
_TEXT_TOKENS = ("text", "text_special")

# Repair text that was encoded to UTF-8 twice, and change nothing else: quotes, HTML entities,
# ligatures, full-width letters, control characters and Unicode normalisation stay as written.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

# Inline Markdown is parsed only where it matters (items, headings, paragraphs holding a probe
# comment): large prose never pays for it, and item text is capped at MAX_TEXT characters.
_MARKDOWN = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).disable("inline")


class ChecklistError(ValueError):
    """A file that cannot be imported; ``str()`` reads "line 12: <message>" when the line is known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message, line)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ParsedItem:
    key: str
    text: str
    optional: bool
    probe: dict | None
    line: int
    children: tuple[ParsedItem, ...] = ()
    #: Where its evidence belongs: "environment" (the default) or "release" (it carries over to
    #: another environment's deployment of the same release).
    scope: str = SCOPE_ENVIRONMENT
    #: How long a manual attestation holds and carries over to later deployments, in seconds.
    valid_seconds: int | None = None
    #: The default assignee's username, or "".
    owner: str = ""


@dataclass(frozen=True)
class ParsedSection:
    title: str
    level: int
    optional: bool
    line: int
    items: tuple[ParsedItem, ...] = ()
    sections: tuple[ParsedSection, ...] = ()
    description: str = ""
    #: The default owner named by the heading's `ctrlready` comment (its items already carry it), or "".
    owner: str = ""


@dataclass(frozen=True)
class ParsedChecklist:
    title: str
    sections: tuple[ParsedSection, ...]
    required_roles: tuple[str, ...] = DEFAULT_ROLES
    description: str = ""

    def iter_items(self) -> Iterator[tuple[tuple[str, ...], ParsedItem, str | None]]:
        """Yield ``(section_path, item, parent_key)`` depth-first in document order."""

        def walk_items(path, items, parent_key):
            for item in items:
                yield path, item, parent_key
                yield from walk_items(path, item.children, item.key)

        def walk_sections(path, sections):
            for section in sections:
                section_path = (*path, section.title)
                yield from walk_items(section_path, section.items, None)
                yield from walk_sections(section_path, section.sections)

        yield from walk_sections((), self.sections)

    def counts(self) -> dict:
        def nested(sections):
            return sum(len(s.sections) + nested(s.sections) for s in sections)

        items = [item for _, item, _ in self.iter_items()]
        return {
            "sections": len(self.sections),
            "groups": nested(self.sections),
            "items": len(items),
            "optional_items": sum(item.optional for item in items),
            "automated_items": sum(item.probe is not None for item in items),
        }


def slugify(value: str) -> str:
    """Django's ``django.utils.text.slugify`` (ASCII), reimplemented to keep this module pure."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


def parse_checklist(source: str | bytes, *, max_items: int = MAX_ITEMS) -> ParsedChecklist:
    """Parse a checklist; one with more than `max_items` items (children included) is refused."""
    text = _read_text(source)
    if not text.strip():
        raise ChecklistError(
            "The file is empty: write a `# Title` heading and items like `- [ ] text`."
        )
    return _Parser(text, max_items=max_items).parse()


# Reading the file


def _read_text(source: str | bytes) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data))
        nul = data.find(b"\0")
        if nul != -1:
            raise _not_text("it contains NUL bytes", data.count(b"\n", 0, nul) + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_text("it is not valid UTF-8", data.count(b"\n", 0, exc.start) + 1) from None
    elif isinstance(source, str):
        text = source
        _check_size(len(text.encode(errors="surrogatepass")))
        nul = text.find("\0")
        if nul != -1:
            raise _not_text("it contains NUL characters", text.count("\n", 0, nul) + 1)
    else:
        raise TypeError(f"parse_checklist takes str or bytes, not {type(source).__name__}")

    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [_fix_line(line) for line in text.split("\n")]
    lines[0] = lines[0].removeprefix("\ufeff")
    return "\n".join(lines)


def _check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise ChecklistError(
            f"The file is larger than 2 MB ({size:,} bytes): split it into smaller checklists."
        )


def _not_text(reason: str, line: int) -> ChecklistError:
    return ChecklistError(
        f"This is not a text file ({reason}): save the checklist as UTF-8 Markdown and import it again.",
        line,
    )


def _fix_line(line: str) -> str:
    """Repair double-encoded UTF-8 and turn tabs in the indentation into spaces (tab stops of 4)."""
    if not line.isascii():
        line = ftfy.fix_text(line, _FTFY_CONFIG)
    indent = _LEADING_WS.match(line).end()
    if "\t" in line[:indent]:
        line = line[:indent].expandtabs(4) + line[indent:]
    return line


# Walking the token stream


@dataclass
class _Section:
    title: str | None  # None for the implicit section until the title is known
    plain: str
    level: int
    optional: bool
    line: int
    items: list[_Item] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)
    description: str = ""
    owner: str = ""
    owner_line: int | None = None


@dataclass
class _Item:
    optional: bool
    line: int
    text: str = ""
    plain: str = ""  # the rendered text, for the generated key
    explicit_key: str | None = None
    probe: dict | None = None
    probe_line: int | None = None
    settings: ItemSettings | None = None
    settings_line: int | None = None
    children: list[_Item] = field(default_factory=list)


@dataclass
class _Comment:
    """A ``<!-- probe`` or ``<!-- ctrlready`` comment: its kind, its YAML and the line the YAML starts on."""

    kind: str
    body: str
    line: int


class _Parser:
    def __init__(self, text: str, *, max_items: int = MAX_ITEMS):
        self.max_items = max_items
        self.lines = text.split("\n")
        self.env: dict = {}
        self.tokens = _MARKDOWN.parse(text, self.env)
        self.title: str | None = None
        self.title_plain = ""
        self.roots: list[_Section] = []
        self.stack: list[_Section] = []
        self.implicit: _Section | None = None
        self.open_items: list[_Item | None] = []
        self.quote_depth = 0
        self.last_item: _Item | None = None
        self.roles: tuple[str, ...] = DEFAULT_ROLES
        self.roles_line: int | None = None
        # The checklist's default owner (a `ctrlready owner:` before any section), and the heading whose
        # own line is being read: a `ctrlready owner:` written in it is that heading's.
        self.owner = ""
        self.owner_line: int | None = None
        self.reading_heading: _Section | None = None
        self.item_count = 0
        # For descriptions: where each heading's prose starts, and the lines that are not prose.
        self.prose_starts: list[tuple[int, int, _Section | None]] = []  # (heading's first line, first prose line, section)
        self.not_prose: list[tuple[int, int]] = []

    def parse(self) -> ParsedChecklist:
        self._refuse_deep_nesting()
        tokens, i = self.tokens, 0
        while i < len(tokens):
            i = self._token(i, tokens[i])
        if not self.item_count:
            raise ChecklistError(
                "No checklist items found: items are lines like `- [ ] text` "
                "(a dash, a space, a box `[ ]`, a space, the text)."
            )
        if self.title is None:
            raise ChecklistError(
                "The file has no `# Title` heading: start it with a line like `# Production readiness`.",
                1,
            )
        if self.implicit is not None:
            self.implicit.title, self.implicit.plain = self.title, self.title_plain
        description = self._describe()
        return ParsedChecklist(
            title=self.title,
            sections=_KeyAssigner(self.roots, owner=self.owner).freeze(),
            required_roles=self.roles,
            description=description,
        )

    def _describe(self) -> str:
        """Give every section the prose under its heading; return the prose under the title."""
        prose = [True] * len(self.lines)
        for start, end in self.not_prose:
            prose[start:end] = [False] * (end - start)
        title_description = ""
        ends = [start for start, _, _ in self.prose_starts[1:]] + [len(self.lines)]
        for (_, start, section), end in zip(self.prose_starts, ends):
            text = _prose([line if prose[number] else "" for number, line in enumerate(self.lines[start:end], start)])
            if section is None:
                title_description = text
            else:
                section.description = text
        return title_description

    def _token(self, i: int, token: Token) -> int:
        """Handle the token at ``i``; return the index of the next token to look at."""
        kind = token.type
        if kind == "heading_open":
            self._heading(token, self.tokens[i + 1])
            return i + 3
        if kind == "list_item_open":
            return self._list_item(i, token)
        if kind == "list_item_close":
            self.open_items.pop()
            return i + 1
        if kind == "html_block":
            self._html_block(token)
            return i + 1
        if kind == "inline" and _OPEN_COMMENT.search(token.content):
            self._parse_inline(token, "paragraph")
            self._comments_in_inline(token, item=None)
        elif kind == "blockquote_open":
            self.quote_depth += 1
        elif kind == "blockquote_close":
            self.quote_depth -= 1
        if not kind.endswith("_close"):
            self.last_item = None
        return i + 1

    def _heading(self, token: Token, inline: Token) -> None:
        self.last_item = None
        line = token.map[0] + 1
        self._parse_inline(inline, "heading")
        heading = _Section("", "", 0, False, line)  # takes the heading's own `ctrlready owner:`, if any
        self.reading_heading = heading
        try:
            title = _join_lines(self._comments_in_inline(inline, item=None))
        finally:
            self.reading_heading = None
        level = int(token.tag[1:])
        if level == 1 and self.title is None:
            if not title:
                raise ChecklistError(
                    "The `# Title` heading is empty: write the checklist's name after `# `.", line
                )
            self.title, self.title_plain = title, _plain(inline)
            if heading.owner:
                self.owner, self.owner_line = heading.owner, heading.owner_line
            self.stack.clear()
            self.prose_starts.append((token.map[0], token.map[1], None))
            return
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        optional = "(optional" in title.lower() or (parent is not None and parent.optional)
        section = _Section(title, _plain(inline), level, optional, line, owner=heading.owner, owner_line=heading.owner_line)
        (parent.sections if parent else self.roots).append(section)
        self.stack.append(section)
        if self.title is not None:
            self.prose_starts.append((token.map[0], token.map[1], section))

    def _list_item(self, i: int, token: Token) -> int:
        tokens = self.tokens
        is_task = (  # a list item always has its closing token, so tokens[i + 1] is there
            self.quote_depth == 0
            and tokens[i + 1].type == "paragraph_open"
            and _BOX.match(tokens[i + 2].content) is not None
        )
        if not is_task:
            self.open_items.append(None)
            self.last_item = None
            return i + 1

        line = token.map[0] + 1
        self.not_prose.append((token.map[0], token.map[1]))
        inline = tokens[i + 2]
        self._parse_inline(inline, "item")
        parent = next((item for item in reversed(self.open_items) if item is not None), None)
        section = self._current_section(line)
        item = _Item(optional=section.optional or (parent is not None and parent.optional), line=line)

        content = self._comments_in_inline(inline, item=item)
        text = _join_lines(content[_BOX.match(content).end() :])
        plain = _plain(inline)
        box = _BOX.match(plain)
        plain = plain[box.end() :] if box else plain
        match = _TRAILING_KEY.search(text)
        if match:
            key = match.group(1).strip()
            if not KEY_RE.match(key):
                raise ChecklistError(
                    f"The key `{{#{excerpt(key)}}}` is not valid: a key starts with a letter or digit and uses "
                    "only letters, digits, `.`, `_` and `-` (at most 200 characters).",
                    line,
                )
            item.explicit_key = key
            text = text[: match.start()].rstrip()
        if not text:
            raise ChecklistError(
                "This item has no text: write what to check after the box, like `- [ ] Backups tested`.",
                line,
            )
        item.text, item.plain = text, plain

        (parent.children if parent else section.items).append(item)
        self.item_count += 1
        if self.item_count > self.max_items:
            raise ChecklistError(
                f"This checklist has more than {self.max_items:,} items (this line is item {self.item_count:,}): "
                "split it into several checklists, or ask an admin to raise CTRLREADY_MAX_ITEMS.",
                line,
            )
        self.open_items.append(item)
        self.last_item = item
        return i + 4  # list_item_open, paragraph_open, inline, paragraph_close

    def _parse_inline(self, inline: Token, what: str) -> None:
        if len(inline.content) > MAX_TEXT:
            raise ChecklistError(
                f"This {what} is {len(inline.content):,} characters long: keep it under {MAX_TEXT:,} "
                "and move the details to a linked document.",
                inline.map[0] + 1,
            )
        inline.children = []
        _MARKDOWN.inline.parse(inline.content, _MARKDOWN, self.env, inline.children)

    def _refuse_deep_nesting(self) -> None:
        """markdown-it stops reading containers nested MAX_NESTING deep: refuse rather than lose items."""
        line = None
        for token in self.tokens:
            line = token.map[0] + 1 if token.map else line
            if token.level >= MAX_NESTING - 1:
                raise ChecklistError(
                    "Lists or block quotes are nested too deeply here (over 20 levels): flatten them.",
                    line,
                )

    def _current_section(self, line: int) -> _Section:
        if self.stack:
            return self.stack[-1]
        if self.implicit is None:
            self.implicit = _Section(self.title, self.title_plain, 2, False, line)
            self.roots.append(self.implicit)
        return self.implicit

    # Comments

    def _html_block(self, token: Token) -> None:
        content = token.content.lstrip(" ")
        if not content.startswith("<!--"):
            self.last_item = None
            return
        self.not_prose.append((token.map[0], token.map[1]))
        comment = _read_comment(content, token.map[0] + 1)
        if comment is not None:
            self._use_comment(comment, self.last_item)

    def _comments_in_inline(self, inline: Token, item: _Item | None) -> str:
        """Handle the HTML comments in an inline token; return its content without them."""
        content = inline.content
        if "<!--" not in content:
            return content
        self._refuse_unclosed_comment(inline)
        pieces, cursor = [], 0
        for child in inline.children or ():
            if child.type != "html_inline" or not child.content.startswith("<!--"):
                continue
            start = content.find(child.content, cursor)  # the comment is a slice of the content: found
            pieces.append(content[cursor:start])
            cursor = start + len(child.content)
            first_line = content.count("\n", 0, start)
            source = self._comment_source(inline, child.content, first_line)
            comment = _read_comment(source, inline.map[0] + first_line + 1)
            if comment is not None:
                self._use_comment(comment, item)
        pieces.append(content[cursor:])
        return "".join(pieces)

    def _refuse_unclosed_comment(self, inline: Token) -> None:
        """A comment Markdown did not see as one (a `- ` line inside it ends the paragraph) is an error."""
        words = "".join(
            child.content if child.type in _TEXT_TOKENS else "\n" if child.type == "softbreak" else "\0"
            for child in inline.children or ()
        )
        if _OPEN_COMMENT.search(words):
            match = _OPEN_COMMENT.search(inline.content)
            if match:
                line = inline.map[0] + inline.content.count("\n", 0, match.start()) + 1
                raise _unclosed(match.group(1), line)

    def _comment_source(self, inline: Token, comment: str, first_line: int) -> str:
        """The comment with its continuation lines as in the file (inline content loses indentation)."""
        comment_lines = comment.split("\n")
        if len(comment_lines) == 1:
            return comment
        start = inline.map[0] + first_line
        # the last line may go on after the comment: _read_comment stops at its first `-->`
        return "\n".join([comment_lines[0], *self.lines[start + 1 : start + len(comment_lines)]])

    def _use_comment(self, comment: _Comment, item: _Item | None) -> None:
        if comment.kind == "probe":
            self._attach_probe(comment, item)
        elif comment.kind == "item":
            self._attach_item_settings(comment, item)
        else:
            self._read_settings(comment)

    def _attach_probe(self, comment: _Comment, item: _Item | None) -> None:
        if item is None:
            raise ChecklistError(
                "This probe comment does not follow an item: put it on the lines right after "
                "the `- [ ]` item it checks, indented like the item's text.",
                comment.line,
            )
        if item.probe_line is not None:
            raise ChecklistError(
                f"The item on line {item.line} already has a probe (line {item.probe_line}): "
                "an item carries at most one probe; split it into two items.",
                comment.line,
            )
        data = _load_yaml(comment, "probe")
        item.probe = _validate_probe(data, comment.line)
        item.probe_line = comment.line

    def _attach_item_settings(self, comment: _Comment, item: _Item | None) -> None:
        if item is None:
            raise ChecklistError(
                "This `item` comment does not follow an item: put it on the lines right after "
                "the `- [ ]` item it describes, indented like the item's text.",
                comment.line,
            )
        if item.settings_line is not None:
            raise ChecklistError(
                f"The item on line {item.line} already has an `item` comment (line {item.settings_line}): "
                "put all its settings in one.",
                comment.line,
            )
        try:
            item.settings = item_settings(_load_yaml(comment, "item"))
        except ValueError as exc:
            raise ChecklistError(str(exc), comment.line) from None
        item.settings_line = comment.line

    def _read_settings(self, comment: _Comment) -> None:
        """A `ctrlready` comment: the sign-off roles (once in the file) and/or a heading's default owner."""
        data = _load_yaml(comment, "ctrlready")
        if data is not None and not isinstance(data, dict):
            raise ChecklistError(
                "The `ctrlready` comment must hold YAML settings like `signoff: [lead, admin]` or `owner: alice`.",
                comment.line,
            )
        data = data or {}
        unknown = [str(name) for name in data if name not in ("signoff", "owner")]
        if unknown:
            raise ChecklistError(
                f"Unknown setting `{excerpt(unknown[0])}` in the `ctrlready` comment: use `signoff`, a list of "
                "roles like `[lead, admin]`, or `owner`, the username the items under its heading wait on.",
                comment.line,
            )
        if "owner" in data:
            self._read_owner(data["owner"], comment.line)
        if "signoff" in data or not data:
            self._read_roles(data, comment.line)

    def _read_owner(self, owner: object, line: int) -> None:
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise ChecklistError(
                "`owner` in the `ctrlready` comment must be one username (letters, digits and `.@+-_`, "
                "at most 150 characters).",
                line,
            )
        target = self.reading_heading or (self.stack[-1] if self.stack else None)
        where = "heading" if target is not None else "checklist"
        taken = target.owner_line if target is not None else self.owner_line
        if taken is not None:
            raise ChecklistError(
                f"This {where} already names its owner on line {taken}: keep only one `owner`.", line
            )
        if target is None:
            self.owner, self.owner_line = owner, line
        else:
            target.owner, target.owner_line = owner, line

    def _read_roles(self, data: dict, line: int) -> None:
        if self.roles_line is not None:
            raise ChecklistError(
                f"The `ctrlready` comment on line {self.roles_line} already sets `signoff`: keep only one.",
                line,
            )
        self.roles_line = line
        if not data:
            return
        roles = data.get("signoff")
        roles = [roles] if isinstance(roles, str) else roles
        allowed = ", ".join(f"`{role}`" for role in SIGNOFF_ROLES)
        if not isinstance(roles, list) or not roles:
            raise ChecklistError(
                f"`signoff` in the `ctrlready` comment must list one or more roles among {allowed}.",
                line,
            )
        for role in roles:
            if role not in SIGNOFF_ROLES:
                raise ChecklistError(
                    f"`{excerpt(role)}` is not a sign-off role: use {allowed}.",
                    line,
                )
        self.roles = tuple(dict.fromkeys(roles))


def _read_comment(source: str, line: int) -> _Comment | None:
    """Read a comment that starts ``source``; None unless its body starts with probe or ctrlready."""
    end = source.find("-->", 4)
    body = source[4:] if end == -1 else source[4:end]
    match = _COMMENT_WORD.match(body)
    if match is None:
        return None
    kind = match.group(1)
    line += body.count("\n", 0, match.start(1))
    if end == -1:
        raise _unclosed(kind, line)
    rest = body[match.end() :]
    first, newline, others = rest.partition("\n")
    if not first.strip():
        rest = newline + textwrap.dedent(others)
    return _Comment(kind, rest, line)


def _unclosed(kind: str, line: int) -> ChecklistError:
    return ChecklistError(
        f"This `<!-- {kind}` comment is not closed: end it with `-->`, start it on its own line "
        "below the item and indent all its lines at least as much as that first line.",
        line,
    )


def _load_yaml(comment: _Comment, kind: str) -> object:
    try:
        return load_annotation(comment.body, kind=kind, line=comment.line)
    except AnnotationError as exc:
        raise ChecklistError(exc.message, exc.line) from None


def _validate_probe(data: object, line: int) -> dict:
    try:
        return validate_probe(data)
    except ProbeSpecError as exc:
        raise ChecklistError(str(exc), line) from None


@dataclass(frozen=True)
class ItemSettings:
    """What an ``<!-- item -->`` comment says about its item's evidence."""

    scope: str = SCOPE_ENVIRONMENT
    valid_seconds: int | None = None
    owner: str = ""


def item_settings(data: object) -> ItemSettings:
    """Check an ``item`` comment's YAML; raise ValueError with a sentence saying what to fix."""
    if data is None:
        return ItemSettings()
    if not isinstance(data, dict):
        raise ValueError(
            "The `item` comment must hold YAML settings like `scope: release` or `valid: 90d`."
        )
    unknown = [str(name) for name in data if name not in ITEM_SETTINGS]
    if unknown:
        raise ValueError(
            f"Unknown setting `{unknown[0][:40]}` in the `item` comment: use `scope`, `valid` or `owner`."
        )
    scope = data.get("scope", SCOPE_ENVIRONMENT)
    if scope not in SCOPES:
        raise ValueError("`scope` must be `environment` (the default) or `release`.")
    owner = data.get("owner", "")
    if owner is None:
        owner = ""
    if not isinstance(owner, str) or (owner and not _OWNER.match(owner)):
        raise ValueError("`owner` must be one username (letters, digits and `.@+-_`, at most 150 characters).")
    valid = data.get("valid")
    return ItemSettings(scope=scope, valid_seconds=None if valid is None else duration_seconds(valid), owner=owner)


def duration_seconds(value: object) -> int:
    """``"90d"`` → 7776000: a whole number of minutes (m), hours (h), days (d) or weeks (w)."""
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("`valid` must be a duration like `90d`, `12h`, `30m` or `2w`.")
    seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)]
    if not 0 < seconds <= MAX_VALID_SECONDS:
        raise ValueError("`valid` must be more than zero and at most ten years.")
    return seconds


def duration_text(seconds: int) -> str:
    """The shortest way to write ``seconds`` back as ``valid`` takes it: 7776000 → ``"90d"``."""
    for unit in ("w", "d", "h"):
        if seconds % DURATION_UNITS[unit] == 0:
            return f"{seconds // DURATION_UNITS[unit]}{unit}"
    return f"{seconds // 60}m"


# Text helpers


def _prose(lines: list[str]) -> str:
    """Lines of prose as one Markdown text (what is not prose is blank): no blank lines at either end, no runs of them."""
    text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", "\n".join(lines))
    return textwrap.dedent(text).strip("\n").rstrip()


def _join_lines(text: str) -> str:
    return _LINE_JOIN.sub(" ", text).strip()


def _plain(inline: Token) -> str:
    """The text a reader sees: text, code and image descriptions, no markup, URLs or HTML."""
    parts = []
    for child in inline.children or ():
        if child.type in _TEXT_TOKENS or child.type in ("code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


# Keys


class _KeyAssigner:
    """Give every item its key (explicit keys as written, generated ones de-duplicated in order) and its owner."""

    def __init__(self, roots: list[_Section], *, owner: str = ""):
        self.roots = roots
        self.owner = owner
        self.used: set[str] = set()
        self.next_suffix: dict[str, int] = {}
        explicit: dict[str, int] = {}
        for item in self._all_items(self.roots):
            key = item.explicit_key
            if key is None:
                continue
            if key in explicit:
                raise ChecklistError(
                    f"The key `{key}` is used twice: on line {explicit[key]} and line {item.line}. "
                    "Keys must be unique within a checklist; change one of them.",
                    item.line,
                )
            explicit[key] = item.line
        self.used.update(explicit)

    def _all_items(self, sections):
        def walk(items):
            for item in items:
                yield item
                yield from walk(item.children)

        for section in sections:
            yield from walk(section.items)
            yield from self._all_items(section.sections)

    def freeze(self) -> tuple[ParsedSection, ...]:
        return tuple(self._section(section, (), self.owner) for section in self.roots)

    def _section(self, section: _Section, path: tuple[str, ...], owner: str) -> ParsedSection:
        path = (*path, _slug(section.plain, "section"))
        prefix = ".".join(path)
        owner = section.owner or owner
        return ParsedSection(
            title=section.title,
            level=section.level,
            optional=section.optional,
            line=section.line,
            items=tuple(self._item(item, prefix, owner) for item in section.items),
            sections=tuple(self._section(child, path, owner) for child in section.sections),
            description=section.description,
            owner=section.owner,
        )

    def _item(self, item: _Item, prefix: str, owner: str) -> ParsedItem:
        key = item.explicit_key or self._generated_key(f"{prefix}.{_slug(item.plain, 'item')}")
        settings = item.settings or ItemSettings()
        if settings.valid_seconds is not None and item.probe is not None:
            raise ChecklistError(
                "`valid` is for attestations a person makes; this item is checked by its probe, whose "
                "results stay fresh for the result window (CTRLREADY_RESULT_TTL_MINUTES). Remove `valid`.",
                item.settings_line,
            )
        return ParsedItem(
            key=key,
            text=item.text,
            optional=item.optional,
            probe=item.probe,
            line=item.line,
            children=tuple(self._item(child, key, settings.owner or owner) for child in item.children),
            scope=settings.scope,
            valid_seconds=settings.valid_seconds,
            owner=settings.owner or owner,
        )

    def _generated_key(self, base: str) -> str:
        base = base[:MAX_KEY_LENGTH].rstrip("-._")
        key, n = base, self.next_suffix.get(base, 2)
        while key in self.used:
            suffix = f"-{n}"
            key = base[: MAX_KEY_LENGTH - len(suffix)].rstrip("-._") + suffix
            n += 1
        self.next_suffix[base] = n
        self.used.add(key)
        return key


def _slug(text: str, fallback: str) -> str:
    return slugify(text)[:SLUG_LENGTH].rstrip("-") or fallback
