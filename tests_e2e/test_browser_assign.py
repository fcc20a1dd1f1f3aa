"""In headless Chromium: taking an item and finding it on /me/, a lead assigning one to a second engineer,
and a comment with an @mention in the item's thread and in the history."""

import pytest

from tests_e2e.test_browser import (  # noqa: F401  (fixtures)
    _async_unsafe_orm,
    _serial_live_server,
    browser,
    open_page,
)

pytestmark = pytest.mark.browser


def test_take_assign_and_find_it_on_me_then_comment_with_a_mention(open_page, people, deployment):
    from conftest import make_user

    make_user("erin", "engineer")

    # An engineer takes an item from the deployment page, in place, and finds it on their /me/.
    engineer = open_page("engineer")
    engineer.goto(f"/deployments/{deployment.pk}/")
    row = engineer.locator('[data-item-key="rollback"]')
    row.get_by_role("button", name="Take").click()
    row = engineer.locator('[data-item-key="rollback"]')
    row.get_by_text("assigned to you").wait_for()
    assert row.get_by_role("button", name="Take").count() == 0
    engineer.get_by_role("link", name="Waiting on me").click()
    mine = engineer.locator("#my-items")
    assert mine.locator('[data-item-key="rollback"]').is_visible()
    assert mine.locator('[data-item-key="nice"]').count() == 0

    # A lead assigns another item to a second engineer from its item page; she finds it on hers.
    lead = open_page("lead")
    lead.goto(f"/deployments/{deployment.pk}/items/nice/")
    lead.get_by_label("Assigned to").fill("erin")
    lead.get_by_role("button", name="Assign").click()
    lead.wait_for_load_state()
    erin = open_page("erin")
    erin.goto("/me/")
    assert erin.locator('#my-items [data-item-key="nice"]').is_visible()
    assert erin.locator('#my-items [data-item-key="rollback"]').count() == 0
    erin.locator('#my-items [data-item-key="nice"]').get_by_role("link", name="Nice to have").click()

    # She comments with an @mention: it shows, rendered and sanitised, in the thread and in the history.
    erin.get_by_label("Add a comment").fill("Done on **staging**, @lead please check <script>alert(1)</script>")
    erin.get_by_role("button", name="Comment").click()
    comment = erin.locator("#comments .comment").last
    comment.get_by_text("please check").wait_for()
    assert comment.locator(".comment-body strong").inner_text() == "staging"
    assert comment.locator("script").count() == 0
    erin.goto(f"/deployments/{deployment.pk}/history/")
    history = erin.locator('tr[data-event-kind="comment"]')
    assert history.locator("strong").inner_text() == "staging"
    assert erin.locator('tr[data-event-kind="mentioned"]').filter(has_text="lead").count() == 1
