"""In headless Chromium: the deployment page on paper, the compare page's filter, the service page's charts.

Set SCREENSHOTS=1 to (re)write docs/screenshots/{compare,service}.png from these runs.
"""

import pytest

from tests_e2e.test_browser import (  # noqa: F401  (fixtures)
    DB_LOCK,
    _async_unsafe_orm,
    _serial_live_server,
    browser,
    finish_runs,
    open_page,
    shot,
)

pytestmark = pytest.mark.browser


def test_deployment_page_prints_as_a_record(open_page, deployment):
    finish_runs(deployment, {"health": ("failed", 812)})
    page = open_page("engineer")
    page.goto(f"/deployments/{deployment.pk}/")
    row = page.locator('[data-item-key="rollback"]')
    assert page.locator(".topbar").is_visible() and row.get_by_role("button", name="Mark passed").is_visible()

    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert not row.get_by_role("button", name="Mark passed").is_visible()
    assert not page.get_by_role("button", name="Run all checks").is_visible()
    assert row.get_by_text("Rollback plan ready").is_visible()
    assert page.locator('[data-item-key="health"]').get_by_role("cell", name="did not hold").is_visible()
    assert page.locator("#signoff").is_visible()
    assert page.pdf()[:5] == b"%PDF-"


def test_compare_filters_to_what_changed_and_service_page_draws_charts(open_page, people, deployment, environment):
    from checklists.deployments import deployment_create
    from checklists.items import item_state_set
    from checklists.models import Environment

    production = Environment.objects.create(service=environment.service, name="production", base_url="http://127.0.0.1:9")
    other = deployment_create(environment=production, checklist_slug="small-checklist", release="v1.0.0",
                              actor=people["engineer"], source="api")
    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    finish_runs(deployment, {"health": ("passed", 31)})
    finish_runs(other, {"health": ("failed", 812)})

    page = open_page("viewer")
    page.goto(f"/deployments/{other.pk}/")
    page.get_by_role("link", name="v1.0.0 in staging").click()
    page.wait_for_url(f"**/deployments/{deployment.pk}/compare/{other.pk}/")
    assert page.locator("tr[data-change]").count() == 6
    shot(page, "compare")
    page.get_by_role("link", name="Changed only").click()
    page.wait_for_url("**?show=changed")
    assert sorted(page.locator("tr[data-change]").evaluate_all("rows => rows.map(r => r.dataset.itemKey)")) == [
        "health", "rollback"
    ]

    page.goto(f"/services/{environment.service.pk}/")
    assert page.get_by_role("img", name="Items that block most often").is_visible()
    assert page.get_by_role("img", name="Flaky probes").count() == 0  # nothing flaky yet: said in words
    assert page.get_by_text("No probe has gone from passing to failing").is_visible()
    shot(page, "service")


def test_report_pdf_page_waits_for_the_worker_then_turns_into_a_download_link(
    open_page, browser, live_server, people, deployment, report_queue
):
    from checklists.items import item_state_set
    from checklists.tasks import draw_report

    page = open_page("viewer")
    page.goto(f"/deployments/{deployment.pk}/")
    page.get_by_role("link", name="PDF", exact=True).click()
    page.get_by_text("The PDF is being drawn").wait_for()
    assert page.get_by_role("link", name="Download the report (PDF)").count() == 0
    with DB_LOCK:
        assert report_queue and draw_report(report_queue[0])  # as the worker would, while the page polls
    link = page.get_by_role("link", name="Download the report (PDF)")
    link.wait_for()
    assert page.get_by_text("The PDF is being drawn").count() == 0
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == f"ctrlchecks-api-staging-v1.0.0-{deployment.pk}-report.pdf"
    with open(download.value.path(), "rb") as saved:
        assert saved.read(5) == b"%PDF-"

    # Without JavaScript the page reloads itself, and the reload that finds the PDF ready gets the PDF.
    with DB_LOCK:
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.set_default_timeout(10_000)
        plain.goto("/accounts/login/")
        plain.get_by_label("Username").fill("viewer")
        plain.get_by_label("Password").fill("pw-viewer")
        plain.get_by_role("button", name="Sign in").click()
        plain.wait_for_url(live_server.url + "/")
        plain.goto(f"/deployments/{deployment.pk}/report.pdf")
        assert "This page reloads itself every 2 seconds" in plain.content()  # (Playwright reads no <noscript> text)
        with plain.expect_response(lambda r: r.headers.get("content-type") == "application/pdf") as reloaded:
            with DB_LOCK:
                assert len(report_queue) == 2 and draw_report(report_queue[1])
        assert reloaded.value.url.endswith(f"/deployments/{deployment.pk}/report.pdf") and reloaded.value.status == 200
        assert plain.context.request.get(f"/deployments/{deployment.pk}/report.pdf").body()[:5] == b"%PDF-"
    finally:
        context.close()
