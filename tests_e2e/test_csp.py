"""Content-Security-Policy in headless Chromium: every page, and the htmx swaps on them, with no violation."""

import re

import pytest

from tests_e2e.test_browser import (  # noqa: F401 - fixtures shared with the other browser tests
    ARGS,
    CHROMIUM,
    DB_LOCK,
    _async_unsafe_orm,
    _serial_live_server,
    browser,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

WATCH = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolation([e.violatedDirective, e.blockedURI, e.sample || ''].join(' '));
});
"""

PROSE = """# Launch

Read this before **every** launch; ![pixel](https://tracker.example/p.gif)

## Ops

- [ ] Rollback plan ready {#rollback}
- [ ] Runbook reviewed ![diagram](https://tracker.example/d.png) {#runbook}
- [ ] Health answers {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
  -->

## References

- [Runbook](https://runbooks.example.com/launch)
"""


@pytest.fixture
def watched(browser, live_server):
    """A signed-in page whose CSP violations (reported by the browser, or printed to its console) are kept."""
    violations: list[str] = []
    unguarded: list[str] = []  # documents served without the policy
    contexts = []

    def make(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
        contexts.append(context)
        context.expose_binding("__cspViolation", lambda source, text: violations.append(f"{source['page'].url}: {text}"))
        context.add_init_script(WATCH)
        page = context.new_page()
        page.on(
            "console",
            lambda message: violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None,
        )
        page.on(
            "response",
            lambda response: unguarded.append(response.url)
            if response.request.resource_type == "document" and "content-security-policy" not in response.headers
            else None,
        )
        page.set_default_timeout(10_000)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("pw-" + username)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_server.url + "/")
        return page

    yield make, violations, unguarded
    for context in contexts:
        context.close()


def test_pages_send_a_nonce_policy_that_their_scripts_carry(client, people):
    client.force_login(people["viewer"])
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy).group(1)
    assert f'nonce="{nonce}"' in response.content.decode()
    assert "unsafe-inline" not in policy  # scripts and <style> need the nonce; no style attribute is allowed
    assert client.get("/api/v1/deployments").has_header("Content-Security-Policy")


def test_every_page_and_htmx_swap_runs_without_a_csp_violation(
    watched, people, environment, broker_up, report_queue, monkeypatch
):
    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from core.actors import SYSTEM
    from core.teams import team_create

    monkeypatch.setattr("probes.services.task_send", lambda *args, **kwargs: None)
    checklist_import(markdown=PROSE, actor=SYSTEM, source="cli")
    checklist_import(markdown=PROSE + "\n- [ ] Links checked\n", actor=SYSTEM, source="cli")
    deployment = deployment_create(
        environment=environment, checklist_slug="launch", release="v1", actor=people["engineer"], source="api"
    )
    team = team_create(name="Platform", actor=SYSTEM, source="cli")
    make, violations, unguarded = watched
    page = make("admin")
    # The watch works: an image from elsewhere, slipped into the page, is reported.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"https://tracker.example/x.gif\">')")
    for _ in range(50):  # the page's events reach the test while Playwright waits
        if any("img-src" in violation for violation in violations):
            break
        page.wait_for_timeout(50)
    assert any("img-src" in violation for violation in violations), violations
    page.wait_for_timeout(300)  # its console line too
    violations.clear()

    base = f"/deployments/{deployment.pk}/"
    page.goto(base)
    page.evaluate("window.__noReload = true")
    assert page.locator("img").count() == 0  # the foreign images are links
    page.locator('[data-item-key="rollback"]').get_by_role("button", name="Mark passed").click()
    page.locator('[data-item-key="rollback"] .badge-passed').wait_for()
    page.locator('[data-item-key="runbook"]').get_by_role("link", name="Note / waive…").click()
    page.locator('[data-item-key="runbook"]').get_by_label("Reason to waive").fill("Reviewed last week")
    page.locator('[data-item-key="runbook"]').get_by_role("button", name="Waive").click()
    page.locator('[data-item-key="runbook"] .badge-waived').wait_for()
    page.locator('[data-item-key="health"]').get_by_role("button", name="Run").click()
    page.get_by_text("1 probe run in progress").wait_for()
    page.wait_for_timeout(1_500)  # a poll of the live region or two
    assert page.evaluate("window.__noReload") is True

    for path in (
        "/",
        f"{base}?show=blocking",
        f"{base}items/rollback/",
        f"{base}history/",
        f"{base}report.pdf",  # the page that waits for the PDF, polling
        f"/environments/{environment.pk}/",
        f"/environments/{environment.pk}/edit/",
        "/environments/new/",
        "/checklists/",
        "/checklists/launch/",
        "/checklists/launch/diff/?from=1&to=2",
        "/people/",
        "/notifications/",
        "/teams/",
        f"/teams/{team.slug}/",
        "/tokens/",
        "/api/v1/docs",
        "/admin/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/checklists/")
    page.get_by_label("Or paste it").fill(PROSE)
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("heading", name="Preview").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    assert violations == []
    assert unguarded == []
