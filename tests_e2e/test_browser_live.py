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
    from checklists.selectors import deployment_digest
    from checklists.services import item_state_set, signoff_record

    a, b = open_page("engineer"), open_page("viewer")
    for page in (a, b):
        page.goto(f"/deployments/{deployment.pk}/")
        page.evaluate("window.__noReload = true")

    row(a, "rollback").get_by_role("button", name="Mark passed").click()
    b.locator('[data-item-key="rollback"][data-item-state="passed"]').wait_for(timeout=WITHIN)
    assert "Passed by engineer" in row(b, "rollback").inner_text()

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
