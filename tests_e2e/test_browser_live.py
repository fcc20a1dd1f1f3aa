"""Two people on one deployment, each in their own browser: what one does, the other sees without reloading.

SPEC P4: a change — another person's tick, a probe result, a sign-off — is visible on every open page of
the deployment within 2 s.
"""

import pytest

from tests_e2e.test_browser import (  # noqa: F401  (fixtures)
    DB_LOCK,
    _async_unsafe_orm,
    _serial_live_server,
    browser,
    finish_runs,
    open_page,
)

pytestmark = pytest.mark.browser

WITHIN = 2_000  # ms: SPEC P4


def row(page, key):
    return page.locator(f'[data-item-key="{key}"]')


def test_second_person_sees_a_tick_a_probe_result_and_the_lock_without_reloading(open_page, people, deployment):
    from checklists.items import item_state_set
    from checklists.selectors import deployment_digest
    from checklists.signoffs import signoff_record

    a, b = open_page("engineer"), open_page("viewer")
    for page in (a, b):
        page.goto(f"/deployments/{deployment.pk}/")
        page.evaluate("window.__noReload = true")

    row(a, "rollback").get_by_role("button", name="Mark passed").click()
    b.locator('[data-item-key="rollback"][data-item-state="passed"]').wait_for(timeout=WITHIN)
    assert "Passed by engineer" in row(b, "rollback").inner_text()
    # A's own page hears of A's tick too: the shared answer's row has no CSRF token of its own, and still works.
    a.locator('[data-item-key="rollback"] input[name="csrfmiddlewaretoken"][value=""]').first.wait_for(
        state="attached", timeout=WITHIN
    )
    row(a, "rollback").get_by_role("button", name="Back to pending").click()
    b.locator('[data-item-key="rollback"][data-item-state="pending"]').wait_for(timeout=WITHIN)
    row(a, "rollback").get_by_role("button", name="Mark passed").click()
    b.locator('[data-item-key="rollback"][data-item-state="passed"]').wait_for(timeout=WITHIN)

    with DB_LOCK:
        finish_runs(deployment, {"health": ("failed", 31)})
    b.locator('[data-item-key="health"][data-item-state="failed"]').wait_for(timeout=WITHIN)
    assert "did not hold" in row(b, "health").inner_text()
    assert b.locator("#filters").get_by_role("link", name="Failing").inner_text().endswith("1")

    with DB_LOCK:
        finish_runs(deployment, {"health": ("passed", 12)})
        for key in ("alerts-down", "alerts-errors"):
            item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
        signoff_record(
            deployment_id=deployment.pk, role="lead", digest=deployment_digest(deployment), actor=people["lead"],
            source="api",
        )
    for page in (a, b):
        page.get_by_text("Signed off and locked").wait_for(timeout=WITHIN)
    assert a.get_by_role("button", name="Mark passed").count() == 0
    assert a.evaluate("window.__noReload") is True and b.evaluate("window.__noReload") is True


def test_stale_na_over_a_failure_is_refused_in_the_row_with_what_changed(open_page, deployment):
    b = open_page("lead")
    b.goto(f"/deployments/{deployment.pk}/")
    row(b, "health").get_by_role("link", name="Note / waive…").click()
    row(b, "health").get_by_label("Why it does not apply").wait_for()

    with DB_LOCK:  # A's probe fails while B is writing
        finish_runs(deployment, {"health": ("failed", 31)})
    row(b, "health").get_by_text("Someone else changed this item meanwhile").wait_for(timeout=WITHIN)
    row(b, "health").get_by_label("Why it does not apply").fill("Not served by this release")
    row(b, "health").get_by_role("button", name="Mark n/a").click()

    conflict = row(b, "health").locator(".conflict")
    conflict.wait_for()
    assert "from pending to failed" in conflict.inner_text()
    assert row(b, "health").get_attribute("data-item-state") == "failed"
    # Focus comes back to the row once htmx has settled the swap (a few ms after the conflict shows).
    b.wait_for_function("document.activeElement?.closest('li')?.id === 'item-health'", timeout=WITHIN)
    conflict.get_by_role("button", name="Apply anyway").click()
    b.locator('[data-item-key="health"][data-item-state="na"]').wait_for()


def test_bulk_waive_of_a_section_writes_one_event_per_item_and_others_see_it(open_page, deployment):
    from core.models import Event

    lead, other = open_page("lead"), open_page("engineer")
    for page in (lead, other):
        page.goto(f"/deployments/{deployment.pk}/")
    lead.get_by_label("Select every item of Ops").check()
    assert lead.locator("#bulk-count").inner_text() == "4 items selected"
    lead.get_by_label("Note, or the reason to waive").fill("Pilot: accepted by the board")
    lead.get_by_role("button", name="Waive selected").click()
    lead.get_by_text("4 items set to waived.").wait_for()
    for key in ("rollback", "alerts-down", "alerts-errors", "health"):
        other.locator(f'[data-item-key="{key}"][data-item-state="waived"]').wait_for(timeout=WITHIN)
    with DB_LOCK:
        waives = list(Event.objects.filter(deployment_ref=deployment.pk, kind="waive").values_list("item_key", "note"))
    assert sorted(waives) == sorted(
        (key, "Pilot: accepted by the board") for key in ("rollback", "alerts-down", "alerts-errors", "health")
    )
    assert lead.locator("input.pick:checked").count() == 0
