"""The subscriptions API and the /notifications/ page: who may manage what, the secret shown once, redelivery."""

import pytest

from core import crypto
from notify.models import Delivery, Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(fernet_key, settings):
    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def owned(deployment, team):
    """The deployment's service belongs to the team."""
    service = deployment.environment.service
    service.team = team
    service.save()
    return service


HOOK = "https://93.184.215.14/hook"  # a public address: nothing is sent in these tests


def test_a_lead_subscribes_their_teams_service_and_sees_the_secret_once(api, owned):
    created = api.post("lead", "subscriptions", {"channel": "webhook", "target": HOOK, "events": ["item_failed", "signed_off"], "service": owned.name})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["item_failed", "signed_off"]
    assert (body["service"], body["channel"], body["target"], body["created_by"]) == (owned.name, "webhook", HOOK, "lead")
    stored = Subscription.objects.get(pk=body["id"])
    assert crypto.decrypt(stored.secret_encrypted) == body["secret"] and body["secret"] not in stored.secret_encrypted
    listed = api.get("lead", "subscriptions").json()["subscriptions"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert "secret" not in listed[0]


def test_subscribing_to_every_team_needs_an_admin(api):
    refused = api.post("lead", "subscriptions", {"channel": "webhook", "target": HOOK})
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "Only an admin may manage a subscription to every team's events; name a team, service or environment that you lead."
    )
    created = api.post("admin", "subscriptions", {"channel": "webhook", "target": HOOK, "events": "all"})
    assert created.status_code == 201 and created.json()["events"] == ["all"]
    assert api.get("lead", "subscriptions").json()["subscriptions"] == []  # not the lead's to see


@pytest.mark.parametrize("who", ["viewer", "engineer", "outsider"])
def test_people_below_lead_may_not_subscribe(api, owned, who):
    refused = api.post(who, "subscriptions", {"channel": "email", "target": "ops@example.com", "team": "payments"})
    assert refused.status_code == 403
    if who != "outsider":
        assert refused.json()["error"] == "Only a lead of Payments (or an admin) may manage its subscriptions."


def test_a_service_of_no_team_is_an_admins_to_subscribe(api, deployment):
    refused = api.post("lead", "subscriptions", {"channel": "email", "target": "ops@example.com", "service": "ctrlchecks-api"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "This service belongs to no team: only an admin may subscribe to it."


@pytest.mark.parametrize(("body", "message"), [
    ({"channel": "webhook", "target": "ftp://example.com/x"}, "The target must be a full http(s) URL"),
    ({"channel": "webhook", "target": "http://10.0.0.5/hook"}, "The address 10.0.0.5 is private or loopback"),
    ({"channel": "slack", "target": "http://[::1]:8000/x"}, "The address ::1 is private or loopback"),
    ({"channel": "email", "target": "not an address"}, "`not an address` is not an email address."),
    ({"channel": "webhook", "target": HOOK, "events": ["item_failed", "exploded"]}, "`exploded` is not an event kind"),
    ({"channel": "webhook", "target": HOOK, "team": "nope"}, "There is no team `nope`."),
    ({"channel": "webhook", "target": HOOK, "environment": 999999}, "There is no environment 999999."),
])
def test_a_bad_subscription_is_refused_with_a_sentence(api, body, message):
    refused = api.post("admin", "subscriptions", body)
    assert refused.status_code in (400, 404)
    assert refused.json()["error"].startswith(message), refused.json()


def test_private_targets_are_accepted_when_allowed(api, settings):
    settings.CTRLREADY_WEBHOOK_ALLOW_PRIVATE = True
    assert api.post("admin", "subscriptions", {"channel": "webhook", "target": "http://127.0.0.1:9/hook"}).status_code == 201


def test_a_slack_url_is_a_credential_and_is_never_listed_whole(api):
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    created = api.post("admin", "subscriptions", {"channel": "slack", "target": url})
    assert created.status_code == 201 and created.json()["secret"] is None
    listed = api.get("admin", "subscriptions").json()["subscriptions"]
    assert listed[0]["target"] == "https://hooks.slack.com/…"


def test_deliveries_listed_and_redelivered_by_the_teams_lead(api, owned, deployment, people, sent):
    from checklists.items import item_state_set

    sub = api.post("lead", "subscriptions", {"channel": "webhook", "target": HOOK, "team": "payments"}).json()
    item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, tries=8, last_code=500, last_error="The receiver answered 500.")

    listed = api.get("lead", f"subscriptions/{sub['id']}/deliveries").json()["deliveries"]
    assert [(d["id"], d["event"], d["status"], d["attempts"], d["last_code"]) for d in listed] == [
        (str(delivery.pk), "item_failed", "failed", 8, 500)
    ]
    assert api.post("engineer", f"deliveries/{delivery.pk}/redeliver").status_code == 404
    again = api.post("lead", f"deliveries/{delivery.pk}/redeliver")
    assert again.status_code == 202 and again.json()["status"] == "pending" and again.json()["id"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.attempts) == ("pending", 0, 8)  # a fresh round, history kept


def test_a_subscription_is_deleted_by_whoever_may_manage_it(api, owned):
    sub = api.post("lead", "subscriptions", {"channel": "webhook", "target": HOOK, "team": "payments"}).json()
    assert api.client.delete(f"/api/v1/subscriptions/{sub['id']}", **api._headers("engineer")).status_code == 404
    assert api.client.delete(f"/api/v1/subscriptions/{sub['id']}", **api._headers("lead")).status_code == 204
    assert api.client.delete(f"/api/v1/subscriptions/{sub['id']}", **api._headers("admin")).status_code == 404
    assert not Subscription.objects.exists()


# --- The page -------------------------------------------------------------------------------------


def test_the_page_shows_subscriptions_their_deliveries_and_a_redeliver_button(client, people, owned, deployment, sent, settings):
    from checklists.items import item_state_set
    from notify.services import subscription_create

    subscription_create(channel="webhook", target=HOOK, team="payments", actor=people["lead"])
    item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
    delivery = Delivery.objects.get()
    client.force_login(people["lead"])
    page = client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert HOOK in html and f'data-delivery="{delivery.pk}"' in html and "Redeliver" in html and "item_failed" in html
    redone = client.post(f"/notifications/deliveries/{delivery.pk}/redeliver/")
    assert redone.status_code == 302


def test_the_page_creates_a_webhook_and_shows_its_secret_once(client, people, owned):
    client.force_login(people["lead"])
    created = client.post("/notifications/subscriptions/", {"channel": "webhook", "target": HOOK, "team": "payments", "events": ["signed_off"]})
    assert created.status_code == 201
    assert "whsec_" in created.content.decode()
    assert "whsec_" not in client.get("/notifications/").content.decode()
    subscription = Subscription.objects.get()
    assert subscription.events == ["signed_off"]
    assert client.post(f"/notifications/subscriptions/{subscription.pk}/delete/").status_code == 302
    assert not Subscription.objects.exists()


def test_an_engineer_may_not_create_from_the_page_and_is_told_why(client, people, owned):
    client.force_login(people["engineer"])
    refused = client.post("/notifications/subscriptions/", {"channel": "webhook", "target": HOOK, "team": "payments"})
    assert refused.status_code == 403
    assert "Only a lead of Payments" in refused.content.decode()
    assert "New subscription" not in client.get("/notifications/").content.decode()


def test_each_person_switches_their_own_email_off_and_on(client, people):
    from notify.services import personal_email_enabled

    client.force_login(people["engineer"])
    assert "checked" in client.get("/notifications/").content.decode().split("Email me")[0][-60:]
    client.post("/notifications/personal/", {})
    assert personal_email_enabled(people["engineer"]) is False
    client.post("/notifications/personal/", {"email": "on"})
    assert personal_email_enabled(people["engineer"]) is True


def test_a_lead_of_one_team_manages_only_that_teams_subscriptions(api, people, owned, team):
    from conftest import make_user
    from core.models import Membership, Team

    other = Team.objects.create(slug="search", name="Search")
    alice = make_user("alice", None)
    Membership.objects.create(team=team, user=alice, role="lead")
    Membership.objects.create(team=other, user=alice, role="viewer")
    theirs = api.post("admin", "subscriptions", {"channel": "webhook", "target": HOOK, "team": "search"}).json()

    mine = api.post(alice, "subscriptions", {"channel": "webhook", "target": HOOK, "service": owned.name})
    assert mine.status_code == 201, mine.json()
    refused = api.post(alice, "subscriptions", {"channel": "webhook", "target": HOOK, "team": "search"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "Only a lead of Search (or an admin) may manage its subscriptions."
    assert [s["id"] for s in api.get(alice, "subscriptions").json()["subscriptions"]] == [mine.json()["id"]]
    assert api.get(alice, f"subscriptions/{theirs['id']}/deliveries").status_code == 404
    assert api.client.delete(f"/api/v1/subscriptions/{theirs['id']}", **api._headers(alice)).status_code == 404
