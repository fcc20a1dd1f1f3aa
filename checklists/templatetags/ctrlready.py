"""Small presentation helpers for the pages: inline Markdown, percentages, probe summaries."""

import json
from functools import lru_cache
from urllib.parse import urlsplit

from django import template
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince, timeuntil
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml as escape_html

from checklists.comments import comment_html
from core import roles

register = template.Library()


def _same_origin_image(url: str) -> bool:
    """An image the browser may load: a path on this site, or inline data (no request at all)."""
    parts = urlsplit(url)
    if parts.scheme:
        return parts.scheme.lower() == "data"
    return not parts.netloc and not url.startswith(("//", "\\", "/\\"))


def _image(self, tokens, idx, options, env) -> str:
    """An image from another origin becomes a link to it, so text never loads a tracking pixel."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    if _same_origin_image(src):
        return self.image(tokens, idx, options, env)
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return f'<a href="{escape_html(src)}" rel="nofollow noopener noreferrer">{escape_html(alt)}</a>'


def _markdown(preset_rules: tuple[str, ...] = ()) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    if preset_rules:
        md.enable(list(preset_rules))
    md.add_render_rule("image", _image)
    return md


# CommonMark with raw HTML off: item text keeps its code, emphasis and links, nothing else;
# descriptions also keep tables and strikethrough. Images only from this site.
_INLINE = _markdown()
_BLOCK = _markdown(("table", "strikethrough"))

STATE_LABELS = {
    "pending": "Pending",
    "passed": "Passed",
    "failed": "Failed",
    "waived": "Waived",
    "na": "N/A",
}


@lru_cache(maxsize=8192)
def _render_inline(text: str) -> str:
    return mark_safe(_INLINE.renderInline(text))


@register.filter
def inline_md(text: str) -> str:
    """An item's text as HTML: inline Markdown only, raw HTML escaped, unsafe links dropped."""
    return _render_inline(text or "")


@lru_cache(maxsize=1024)
def _render_block(text: str) -> str:
    return mark_safe(_BLOCK.render(text))


@register.filter
def due_text(due_at) -> str:
    """A planned go-live as a countdown: "in 5 hours, 3 minutes", or "overdue by 2 hours"."""
    if not due_at:
        return ""
    now = timezone.now()
    return f"in {timeuntil(due_at, now)}" if due_at > now else f"overdue by {timesince(due_at, now)}"


@lru_cache(maxsize=1024)
def _render_comment(text: str) -> str:
    return mark_safe(comment_html(text))


@register.filter
def comment_md(text: str) -> str:
    """A comment as HTML: Markdown rendered at read time and sanitised by nh3 (see checklists.comments)."""
    return _render_comment(text or "")


@register.filter
def block_md(text: str) -> str:
    """A description as HTML: Markdown blocks, raw HTML escaped, unsafe links dropped, no images from elsewhere."""
    return _render_block(text or "")


@register.filter
def state_label(state: str) -> str:
    """`na` → N/A: a state as people read it."""
    return STATE_LABELS.get(state, state)


@register.filter
def percent(part, whole) -> str:
    """`part` of `whole` as a CSS-ready percentage with one decimal, '0' when `whole` is 0."""
    try:
        part, whole = float(part), float(whole)
    except (TypeError, ValueError):
        return "0"
    if whole <= 0:
        return "0"
    return f"{max(0.0, min(100.0, 100 * part / whole)):.1f}"


@register.filter
def observed(value) -> str:
    """What a probe saw, short enough for a table cell."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 160 else text[:159] + "…"


@register.filter
def probe_summary(probe) -> str:
    """`http GET /health`, `ssh test -s file`, `tls example.com:443` …"""
    if not isinstance(probe, dict):
        return ""
    kind = probe.get("type", "probe")
    if kind in ("http", "load"):
        detail = probe.get("request") or " ".join(str(probe.get(k, "")) for k in ("method", "url")).strip()
    elif kind == "ssh":
        detail = probe.get("run", "")
    elif kind == "dns":
        detail = f"{probe.get('record', '')} {probe.get('name', '')}".strip()
    elif kind in ("tls", "tcp"):
        host = probe.get("host") or "base URL host"
        port = probe.get("port")
        detail = f"{host}:{port}" if port else str(host)
    else:
        detail = ""
    detail = str(detail)
    if len(detail) > 120:
        detail = detail[:119] + "…"
    return f"{kind} {detail}".strip()


@register.filter
def safe_url(url: str) -> str:
    """The URL if it is http(s), else an empty string, so a stored `javascript:` never becomes a link."""
    url = (url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


@register.filter
def duration(ms) -> str:
    if ms is None or ms == "":
        return ""
    ms = int(ms)
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


@register.filter
def plain_md(text: str) -> str:
    """An item's text without its Markdown, for links and lists: tags dropped, entities kept (so still safe)."""
    return _plain(text or "")


@lru_cache(maxsize=8192)
def _plain(text: str) -> str:
    return mark_safe(strip_tags(_render_inline(text)))


@register.simple_tag(takes_context=True)
def may(context, action: str, *, team) -> bool:
    """`{% may "manage" team=environment.service.team_id as can_manage %}`: the check the services make.

    `team` is required (a template that leaves it out does not compile): a team, its id, None (site-wide
    roles only) or "any" (the person's best role anywhere, for what every team shares).
    """
    return roles.can(context["user"], action, team=roles.ANY if team == "any" else team)


@register.filter
def site_role(user) -> str:
    """The person's site-wide role, if they have one (team roles show on /teams/)."""
    return roles.user_role(user, team=None) or ""


STATUS_LABELS = {"open": "Open", "signed_off": "Signed off"}


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)
