"""Comments on items: Markdown sanitised by nh3, `@username` mentions, one event each, who may comment."""

import re

import pytest

from checklists.comments import comment_add, comment_html, item_comments, mentioned_names, sanitise
from conftest import make_user
from core.errors import Forbidden, InvalidInput, NotFound
from core.models import Event


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="#" onclick="alert(1)">x</a>',
        "[click](javascript:alert(1))",
        '<iframe src="https://evil.example"></iframe>',
        "<svg onload=alert(1)>",
    ],
)
def test_a_comment_never_carries_a_tag_a_script_or_a_handler(text):
    html = comment_html(text)
    assert set(re.findall(r"<(\w+)", html)) <= {"p", "a"}
    assert not re.search(r"<[^>]*\son\w+=", html)
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', html))


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        ('<p>ok<script>alert(1)</script></p>', "<p>ok</p>"),
        ('<p onclick="alert(1)">x</p>', "<p>x</p>"),
        ('<img src="x" onerror="alert(1)">', ""),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="nofollow noopener noreferrer">x</a>'),
        ('<p style="position:fixed">x</p>', "<p>x</p>"),
    ],
)
def test_nh3_strips_scripts_handlers_and_unsafe_links(html, kept):
    assert sanitise(html) == kept


def test_markdown_renders_and_links_open_safely():
    html = comment_html("**Done**, see [the run](https://ci.example.com/1) and `code`\n\n- a\n- b")
    assert "<strong>Done</strong>" in html
    assert '<a href="https://ci.example.com/1" rel="nofollow noopener noreferrer">the run</a>' in html
    assert "<code>code</code>" in html and "<li>a</li>" in html


def test_images_from_anywhere_are_dropped():
    assert "<img" not in comment_html("![pixel](https://tracker.example/p.gif)")


def test_mentions_are_usernames_outside_code_and_addresses():
    assert mentioned_names("@alice and @bob, mail ops@example.com, `@notme`, again @alice.") == ["alice", "bob"]


def test_a_comment_is_one_event_with_its_text_and_html(deployment, people):
    event = comment_add(deployment_id=deployment.pk, key="rollback", text="Plan is **ready**", actor=people["engineer"],
                        source="web")
    assert (event.kind, event.item_key, event.note, event.actor_name) == ("comment", "rollback", "Plan is **ready**", "engineer")
    assert event.data["html"] == "<p>Plan is <strong>ready</strong></p>\n"
    assert item_comments(deployment.pk, "rollback") == [event]


def test_each_person_mentioned_who_may_read_gets_one_mentioned_event(deployment, people):
    make_user("erin", "engineer")
    comment = comment_add(
        deployment_id=deployment.pk, key="rollback", text="@erin @lead please look, @erin; @outsider @ghost",
        actor=people["engineer"], source="api",
    )
    mentioned = Event.objects.filter(kind=Event.Kind.MENTIONED).order_by("id")
    assert [event.data["user"] for event in mentioned] == ["erin", "lead"]
    assert all(event.data["comment"] == comment.pk and event.item_key == "rollback" for event in mentioned)
    assert comment.data["mentions"] == ["erin", "lead"]


@pytest.mark.parametrize(("who", "refusal"), [("viewer", Forbidden), ("outsider", NotFound)])
def test_a_viewer_may_not_comment_and_an_outsider_does_not_see_it(deployment, people, who, refusal):
    with pytest.raises(refusal):
        comment_add(deployment_id=deployment.pk, key="rollback", text="hi", actor=people[who], source="web")


def test_an_empty_comment_is_refused(deployment, people):
    with pytest.raises(InvalidInput, match="Write the comment: its text is empty."):
        comment_add(deployment_id=deployment.pk, key="rollback", text="  ", actor=people["engineer"], source="web")


def test_a_comment_on_an_unknown_item_is_refused(deployment, people):
    with pytest.raises(NotFound, match="has no item `nope`"):
        comment_add(deployment_id=deployment.pk, key="nope", text="hi", actor=people["engineer"], source="web")


def test_the_api_answers_201_with_the_rendered_html(api, deployment):
    answer = api.post("engineer", f"deployments/{deployment.pk}/items/rollback/comments",
                      {"text": "Looks good <script>x()</script> @lead"})
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert set(body) == {"id", "at", "author", "text", "html"}
    assert (body["author"], body["text"]) == ("engineer", "Looks good <script>x()</script> @lead")
    assert "<script>" not in body["html"]
    events = api.get("viewer", f"deployments/{deployment.pk}/events").json()["events"]
    assert [e["kind"] for e in events[-2:]] == ["comment", "mentioned"]


def test_the_api_refuses_a_viewers_comment_with_a_sentence(api, deployment):
    answer = api.post("viewer", f"deployments/{deployment.pk}/items/rollback/comments", {"text": "hi"})
    assert answer.status_code == 403
    assert answer.json()["error"].startswith("This needs the engineer role")
