"""Comments on the items of a deployment: Markdown, sanitised, with `@username` mentions.

A comment is an event (`comment`): its text is the event's note, and the HTML it renders to — CommonMark
with raw HTML off, then cleaned by nh3 (the Ammonia sanitiser) to a short list of tags, links made
`nofollow noopener noreferrer`, no images (a comment never makes a reader's browser fetch anything) —
is kept in its data, so the thread and the history show what was rendered when it was written.
Each person mentioned who exists and may read the deployment gets a `mentioned` event.

Engineers and up may comment, on an open deployment and on a signed-off one alike: a comment is history,
not state — it changes no item, no progress and no digest, so what the signers saw stays what they saw.
"""

import re

import nh3
from django.contrib.auth import get_user_model
from django.db import transaction
from markdown_it import MarkdownIt

from checklists.models import Deployment, ItemState
from core import roles
from core.errors import InvalidInput, NotFound
from core.events import event_append
from core.models import Event
from core.text import excerpt

MAX_COMMENT = 10_000

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
_TAGS = {
    "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_SCHEMES = {"http", "https", "mailto"}

# `@name` where a username may start: not inside a word or an e-mail address.
_MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]{1,150})")
_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1|^( {4}|\t).*$", re.MULTILINE | re.DOTALL)


def comment_html(text: str) -> str:
    """A comment's Markdown as HTML that is safe to show: rendered (raw HTML escaped), then sanitised."""
    return sanitise(_MARKDOWN.render(text))


def sanitise(html: str) -> str:
    """HTML cut down by nh3 to the tags and attributes a comment needs: no scripts, handlers, styles or images."""
    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES, link_rel="nofollow noopener noreferrer"
    )


def mentioned_names(text: str) -> list[str]:
    """The usernames `@mentioned` in `text` (not in code), each once, in order of first mention."""
    prose = _CODE.sub(" ", text)
    names = (match.group(1).rstrip(".") for match in _MENTION.finditer(prose))
    return list(dict.fromkeys(name for name in names if name))


def comment_add(*, deployment_id: int, key: str, text: str, actor, source: str) -> Event:
    """Comment on an item: one `comment` event, and one `mentioned` per person it mentions who may read it."""
    deployment = Deployment.objects.select_related("environment__service").filter(pk=deployment_id).first()
    if deployment is None:
        raise NotFound(f"There is no deployment {deployment_id}.")
    team = deployment.owner_team_id
    roles.require(actor, "comment", team=team)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Write the comment: its text is empty.")
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"The comment is {len(text):,} characters long: keep it under {MAX_COMMENT:,}.")
    item_state = ItemState.objects.select_related("item").filter(deployment=deployment, item__key=key).first()
    if item_state is None:
        raise NotFound(f"This deployment's checklist has no item `{excerpt(key)}`.")
    names = mentioned_names(text)
    people = [
        user
        for user in get_user_model().objects.filter(username__in=names, is_active=True).order_by("username")
        if roles.can(user, "read", team=team)
    ] if names else []
    mentioned = [user.get_username() for user in people]
    with transaction.atomic():
        comment = event_append(
            kind=Event.Kind.COMMENT, source=source, actor=actor, deployment=deployment, item=item_state.item,
            note=text, data={"html": comment_html(text), "mentions": mentioned},
        )
        for name in mentioned:
            event_append(
                kind=Event.Kind.MENTIONED, source=source, actor=actor, deployment=deployment, item=item_state.item,
                after=name, note=excerpt(text, 280), data={"user": name, "comment": comment.pk},
            )
    return comment


def item_comments(deployment_id: int, key: str) -> list[Event]:
    """An item's thread: its comments, oldest first."""
    return list(
        Event.objects.filter(deployment_ref=deployment_id, item_key=key, kind=Event.Kind.COMMENT).order_by("at", "id")
    )
