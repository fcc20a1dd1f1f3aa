"""In headless Chromium: a lead subscribes a webhook on /notifications/, sees its secret once, watches a
delivery's outcome and sends it again.

Set SCREENSHOTS=1 to (re)write docs/screenshots/notifications.png from this run.
"""

import pytest

from notify.tests.receivers import WebhookReceiver, webhook_receiver
from tests_e2e.test_browser import (  # noqa: F401  (fixtures)
    _async_unsafe_orm,
    _serial_live_server,
    browser,
    open_page,
    shot,
)

pytestmark = pytest.mark.browser


def test_a_lead_subscribes_a_webhook_sees_its_deliveries_and_redelivers(open_page, people, deployment, settings, fernet_key, monkeypatch):
    from checklists.items import item_state_set
    from core.models import Team
    from notify.models import Delivery
    from notify.services import delivery_attempt

    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True
    queued = []

    def record(name, *, args=(), **options):
        queued.append(args[0])

    monkeypatch.setattr("notify.outbox.task_send", record)  # a redelivery's send
    monkeypatch.setattr("core.queue.task_send", record)  # what `task_offer` sends right after a change
    service = deployment.environment.service
    service.team = Team.objects.create(slug="payments", name="Payments")
    service.save()

    with webhook_receiver(WebhookReceiver()) as receiver:
        page = open_page("lead")
        page.get_by_role("link", name="Notifications").click()
        page.get_by_label("Target").fill(receiver.url)
        page.get_by_label("item_failed").check()
        page.get_by_label("ready_for_signoff").check()
        page.get_by_label("Team").select_option("payments")
        page.get_by_role("button", name="Subscribe").click()
        secret = page.locator("[data-secret]").inner_text()
        assert secret.startswith("whsec_")
        receiver.secret = secret

        item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", note="no plan yet",
                       actor=people["engineer"], source="web")
        delivery = Delivery.objects.get()
        assert queued == [str(delivery.pk)]
        delivery_attempt(delivery.pk)
        assert receiver.delivered_ids() == {str(delivery.pk)}

        page.goto("/notifications/")
        assert "whsec_" not in page.content()  # shown once
        row = page.locator(f'[data-delivery="{delivery.pk}"]')
        assert row.get_attribute("data-status") == "delivered"
        assert "item_failed" in row.inner_text()
        shot(page, "notifications")
        row.get_by_role("button", name="Redeliver").click()
        page.get_by_text("Queued again").wait_for()
        assert queued == [str(delivery.pk)] * 2  # the same id, sent again
        assert page.locator(f'[data-delivery="{delivery.pk}"]').get_attribute("data-status") == "pending"
