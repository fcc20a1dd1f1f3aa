"""End to end in headless Chromium: log in, tick, watch the page change in place, sign off, reopen.

Set SCREENSHOTS=1 to (re)write docs/screenshots/*.png from these runs.
"""

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer
from django.utils import timezone

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]


# With SQLite the live server and the test share one in-memory connection: never use it from two threads at once.
DB_LOCK = threading.Lock()


class SerialServer(WSGIServer):
    """A live server that answers one request at a time, and not while the test holds DB_LOCK."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with DB_LOCK:
            super().process_request(request, client_address)


@pytest.fixture(scope="session", autouse=True)
def _serial_live_server():
    """Created before `live_server` (also session-scoped), so its server is a SerialServer."""
    from django.test.testcases import LiveServerThread

    server_class, LiveServerThread.server_class = LiveServerThread.server_class, SerialServer
    yield
    LiveServerThread.server_class = server_class


@pytest.fixture(scope="module", autouse=True)
def _async_unsafe_orm():
    """Playwright's sync API runs an event loop in the test thread, whose ORM calls stay synchronous.
    Allowed only while this module runs (`check --deploy` refuses the variable)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    assert isinstance(live_server.thread.httpd, SerialServer)
    contexts = []

    def make(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("pw-" + username)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_server.url + "/")
        return page

    yield make
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    if os.environ.get("SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def finish_runs(deployment, outcomes: dict[str, tuple[str, int]], *, passed_long_ago: bool = False) -> None:
    """Record probe results through the real service, as a worker would (no queue in these tests)."""
    from checklists.conditions import ConditionResult
    from probes.models import ProbeRun
    from probes.runners.base import Observation
    from probes.services import results_record

    items = {item.key: item for item in deployment.version.items.filter(key__in=outcomes)}
    results = {}
    for key, (status, duration_ms) in outcomes.items():
        run = ProbeRun.objects.create(
            deployment=deployment, item=items[key], status=ProbeRun.Status.RUNNING,
            deadline=timezone.now() + timedelta(minutes=5), started_at=timezone.now(),
        )
        expr = ((items[key].probe or {}).get("expect") or ["[STATUS] == 200"])[0]
        passed = status == "passed"
        observed = expr.split()[-1].strip("'\"") if passed else 1
        results[run.pk] = Observation(
            status=status, message="" if passed else "The check did not hold: exit status 1.",
            duration_ms=duration_ms, conditions=[ConditionResult(expr, passed, observed)],
        )
    finished = timezone.now() - timedelta(hours=2) if passed_long_ago else None
    results_record(results, finished_at=finished)


def test_tick_updates_row_progress_and_panel_in_place_then_sign_off_and_reopen(open_page, people, deployment):
    from checklists.items import item_state_set

    for key in ("alerts-down", "alerts-errors"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    item_state_set(
        deployment_id=deployment.pk, key="health", state="waived", note="Checked at the load balancer",
        actor=people["lead"], source="api",
    )
    page = open_page("lead")
    page.goto(f"/deployments/{deployment.pk}/")
    page.evaluate("window.__noReload = true")
    row = page.locator('[data-item-key="rollback"]')
    overall = page.locator("#progress .bar").first
    panel = page.locator("#signoff")
    assert overall.get_attribute("aria-valuenow") == "4"
    assert "1 item blocks sign-off" in panel.inner_text()

    row.get_by_role("button", name="Mark passed", exact=True).click()

    page.locator('[data-item-key="rollback"] .badge-passed').wait_for()
    assert "Passed by lead" in row.inner_text()
    # Waits by locator, not wait_for_function: the page's CSP forbids evaluating strings as code.
    page.locator('#progress-summary > .bar[aria-valuenow="5"]').wait_for()
    page.get_by_text("Nothing blocks: ready to sign off.").wait_for()
    assert page.evaluate("window.__noReload") is True  # the same document all along

    panel.get_by_label("Comment").fill("Ready for v1.0.0")
    panel.get_by_role("button", name="Sign off").click()
    page.get_by_text("Signed off and locked").wait_for()
    assert page.get_by_role("button", name="Mark passed").count() == 0
    assert "signed by lead" in page.locator("#signoff").inner_text()

    page.get_by_label("Why reopen?").fill("A hotfix goes in first")
    page.get_by_role("button", name="Reopen").click()
    page.get_by_text("Reopened").wait_for()
    assert page.get_by_text("Signed off and locked").count() == 0
    assert page.get_by_role("button", name="Mark passed").count() >= 1


def test_failing_and_note_in_place_and_filters_without_reload(open_page, deployment):
    page = open_page("engineer")
    page.goto(f"/deployments/{deployment.pk}/")
    page.evaluate("window.__noReload = true")
    row = page.locator('[data-item-key="alerts-down"]')
    row.get_by_role("button", name="Fail").click()
    page.locator('[data-item-key="alerts-down"] .badge-failed').wait_for()
    page.locator('[data-item-key="alerts"] .badge-failed').wait_for()  # the parent follows, out of band
    page.locator('[data-item-key="alerts-down"]').get_by_role("link", name="Note…").click()
    page.locator('[data-item-key="alerts-down"]').get_by_label("Note").fill("Pager rule missing")
    page.locator('[data-item-key="alerts-down"]').get_by_role("button", name="Save note").click()
    page.locator('[data-item-key="alerts-down"] .note').wait_for()
    assert page.evaluate("window.__noReload") is True
    page.get_by_role("link", name="Failing").click()
    page.wait_for_url("**show=failing")
    keys = page.locator("[data-item-key]").evaluate_all("rows => rows.map(r => r.dataset.itemKey)")
    assert set(keys) == {"alerts", "alerts-down"}


def test_run_polls_until_the_result_arrives(open_page, deployment, broker_up, monkeypatch):
    from probes.models import ProbeRun
    from probes.runners.base import Observation
    from probes.services import results_record

    published = []
    monkeypatch.setattr("probes.services.task_send", lambda *args, **kwargs: published.append(args))
    page = open_page("engineer")
    page.goto(f"/deployments/{deployment.pk}/")
    page.evaluate("window.__noReload = true")
    page.locator('[data-item-key="health"]').get_by_role("button", name="Run").click()
    page.get_by_text("1 probe run in progress").wait_for()
    assert page.locator('#live[hx-trigger="every 1s"]').count() == 1
    assert published  # the batch went to the queue once the request committed

    with DB_LOCK:  # the page keeps polling meanwhile
        run = ProbeRun.objects.get(deployment=deployment)
        ProbeRun.objects.filter(pk=run.pk).update(status=ProbeRun.Status.RUNNING)
        results_record({run.pk: Observation(status="passed", message="", duration_ms=23)})

    page.locator('[data-item-key="health"] .badge-passed').wait_for(timeout=6_000)
    page.get_by_text("probe run in progress").wait_for(state="detached")
    assert "in 23 ms" in page.locator('[data-item-key="health"]').inner_text()
    assert page.evaluate("window.__noReload") is True


def test_queue_down_shows_the_message_in_place(open_page, deployment, broker_down):
    page = open_page("engineer")
    page.goto(f"/deployments/{deployment.pk}/")
    page.evaluate("window.__noReload = true")
    page.locator('[data-item-key="health"]').get_by_role("button", name="Run").click()
    flash = page.locator("#flash .flash-error")
    flash.wait_for()
    assert "probe queue cannot be reached" in flash.inner_text()
    assert page.evaluate("window.__noReload") is True
    assert page.get_by_text("in progress").count() == 0  # nothing queued


def test_pages_look_right(open_page, people, seed_deployment, environment):
    """The other pages, as an admin sees them (and the screenshots for the README)."""
    from checklists.items import item_state_set

    deployment = seed_deployment
    manual = list(deployment.version.items.filter(probe__isnull=True, children__isnull=True).values_list("key", flat=True))
    automated = list(deployment.version.items.filter(probe__isnull=False).values_list("key", flat=True))
    for key in manual[:40]:
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="web")
    item_state_set(
        deployment_id=deployment.pk, key=manual[40], state="failed", note="Staging still uses the test key",
        actor=people["engineer"], source="web",
    )
    finish_runs(deployment, {key: ("passed", 31) for key in automated[:12]})
    finish_runs(deployment, {automated[12]: ("failed", 812)})
    finish_runs(deployment, {automated[13]: ("passed", 12)}, passed_long_ago=True)
    environment.variables = {"APP_DIR": "/srv/app", "DOMAIN": "staging.example.com"}
    environment.allowed_hosts = ["staging.example.com"]
    environment.save()

    page = open_page("admin")
    assert "Production readiness" in page.locator("main").inner_text()
    shot(page, "dashboard")

    page.goto(f"/deployments/{deployment.pk}/?show=failing")
    assert page.locator("[data-item-key]").count() == 2
    page.goto(f"/deployments/{deployment.pk}/#item-{automated[12]}")
    assert "did not hold" in page.locator(f'[data-item-key="{automated[12]}"]').inner_text()
    shot(page, "deployment")
    page.goto(f"/deployments/{deployment.pk}/history/")
    assert "Staging still uses the test key" in page.locator("main").inner_text()
    page.get_by_label("Kind").select_option("probe_result")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**kind=probe_result**")
    shot(page, "history")

    page.goto(f"/environments/{environment.pk}/")
    assert "DOMAIN" in page.locator("main").inner_text()
    shot(page, "environment")

    page.goto("/checklists/")
    shot(page, "checklists")
    page.get_by_label("Or paste it").fill(
        "# Release gate\n\n## Ops\n\n- [ ] Rollback plan ready\n- [ ] Health answers\n"
        "  <!-- probe\n  type: http\n  request: GET /health\n  expect:\n    - \"[STATUS] == 200\"\n  -->\n"
        "\n## Extras (Optional)\n\n- [ ] A dashboard for the release\n"
    )
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("heading", name="Preview").wait_for()
    assert page.get_by_role("button", name="Import 3 items").is_visible()
    page.get_by_role("heading", name="Preview").scroll_into_view_if_needed()
    shot(page, "import-preview")
    page.get_by_role("button", name="Import 3 items").click()
    page.get_by_text("Imported Release gate as version 1.").wait_for()
