"""No serious or critical accessibility violation, as axe-core finds them, on the pages people live in.

axe-core comes from npm for this test only (tests_e2e/axe: `npm ci` there; .ci/run does it) and is injected
into each page by Playwright; it is never served by the application.
"""

from pathlib import Path

import pytest

from tests_e2e.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    DB_LOCK,
    _async_unsafe_orm,
    _serial_live_server,
    browser,
    finish_runs,
)

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not AXE.exists(), reason="needs axe-core: run `npm ci` in tests_e2e/axe"),
]


def violations(page) -> list[str]:
    """axe's serious and critical violations of the page as it is, one line each (rule, impact, where)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(n['target'][0] for n in v['nodes'][:3])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_dashboard_deployment_history_and_environment_pages_have_no_serious_violations(
    browser, live_server, people, deployment, report_queue, width
):
    from checklists.items import item_state_set

    with DB_LOCK:
        finish_runs(deployment, {"health": ("failed", 31)})
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    # bypass_csp: axe is injected as a script of the page, which the page's own policy would refuse.
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill("pw-lead")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    found = {}
    for path in (
        "/", f"/deployments/{deployment.pk}/", f"/deployments/{deployment.pk}/history/",
        f"/deployments/{deployment.pk}/report.pdf", f"/environments/{deployment.environment_id}/",
    ):
        page.goto(path)
        found[path] = violations(page)
    context.close()
    assert all(not lines for lines in found.values()), found
