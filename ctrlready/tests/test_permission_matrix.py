"""The permission matrix: every page, htmx action and API operation, as every kind of person.

Team Platform owns the service `payments-api`; team Billing owns `invoices-api`. The people:

- `p-viewer`, `p-engineer`, `p-lead`, `p-admin`: members of Platform in that role;
- `b-lead`: the lead of Billing (nothing in Platform);
- `site-viewer`: the site-wide viewer role; `site-admin`: the site-wide admin role;
- `outsider`: signed in, no role at all.

SPEC: a person may do what their role in the owning team (or their site-wide role) allows; where they may
read a thing but not do this, 403; where they may not even read it, 404. What every team shares (the
dashboard, checklists, importing one) needs a role somewhere; teams and their members are a directory
every signed-in person reads, and only the team's admins (or a site admin) change them.
"""

import json
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.items import item_state_set
from checklists.models import Deployment, Environment, Service
from checklists.selectors import deployment_snapshot
from checklists.signoffs import signoff_record
from core.actors import SYSTEM
from core.live import live_version
from core.models import Membership, Team
from core.tokens import api_token_create

PEOPLE = ("p-viewer", "p-engineer", "p-lead", "p-admin", "b-lead", "site-viewer", "site-admin", "outsider")
RANK = {"viewer": 0, "engineer": 1, "lead": 2, "admin": 3}
NEEDS = {"read": 0, "tick": 1, "run": 1, "comment": 1, "assign": 2, "waive": 2, "signoff": 2, "reopen": 2, "subscribe": 2, "manage": 3}
#: Each person's best role on Platform's things, anywhere at all, and site-wide (-1: none).
RANKS = {
    "p-viewer": (0, 0, -1),
    "p-engineer": (1, 1, -1),
    "p-lead": (2, 2, -1),
    "p-admin": (3, 3, -1),
    "b-lead": (-1, 2, -1),
    "site-viewer": (0, 0, 0),
    "site-admin": (3, 3, 3),
    "outsider": (-1, -1, -1),
}
SMALL = """# Small checklist

## Ops

- [ ] Rollback plan ready {#rollback}
- [ ] Health answers {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
  -->
"""


@dataclass
class World:
    people: dict
    open: Deployment  # Platform's, open, nothing done
    ready: Deployment  # Platform's, nothing blocking: ready to sign
    signed: Deployment  # Platform's, signed off, in staging
    production: Environment  # Platform's second environment, where `signed` may be promoted
    billing: Deployment  # Billing's, open

    @property
    def staging(self) -> Environment:
        return self.open.environment


@pytest.fixture
def world(db, broker_up, report_queue, fernet_key) -> World:
    platform = Team.objects.create(slug="platform", name="Platform")
    billing = Team.objects.create(slug="billing", name="Billing")
    people = {name: User.objects.create_user(username=name, password="pw") for name in PEOPLE}
    for role in RANK:
        Membership.objects.create(team=platform, user=people[f"p-{role}"], role=role)
    Membership.objects.create(team=billing, user=people["b-lead"], role="lead")
    people["site-viewer"].groups.add(Group.objects.get_or_create(name="viewer")[0])
    people["site-admin"].groups.add(Group.objects.get_or_create(name="admin")[0])

    checklist_import(markdown=SMALL, name="Small checklist", actor=SYSTEM, source="cli")
    payments = Service.objects.create(name="payments-api", team=platform)
    staging = Environment.objects.create(service=payments, name="staging", base_url="http://127.0.0.1:9")
    production = Environment.objects.create(service=payments, name="production", base_url="http://127.0.0.1:9")
    invoices = Service.objects.create(name="invoices-api", team=billing)
    invoicing = Environment.objects.create(service=invoices, name="staging", base_url="http://127.0.0.1:9")

    def start(environment, release):
        return deployment_create(
            environment=environment, checklist_slug="small-checklist", release=release, actor=SYSTEM, source="cli"
        )

    def make_ready(deployment):
        lead = people["site-admin"]
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=lead, source="api")
        item_state_set(deployment_id=deployment.pk, key="health", state="waived", note="LB checks it", actor=lead, source="api")
        return deployment

    signed = make_ready(start(staging, "v1"))
    signoff_record(
        deployment_id=signed.pk, role="lead", digest=deployment_snapshot(signed).digest, actor=people["site-admin"],
        source="api",
    )
    ready = make_ready(start(staging, "v2"))
    world = World(people, start(staging, "v3"), ready, signed, production, start(invoicing, "v9"))
    for deployment in (world.open, world.ready, world.signed, world.billing):
        deployment.refresh_from_db()
    return world


@dataclass(frozen=True)
class Op:
    """One thing a person can ask: `call(client, world, who)` → response; `ok` its status when allowed."""

    name: str
    action: str
    # "team": Platform's things; "any": shared, a role anywhere; "site": site-wide; "directory": teams;
    # "site, owned": a site admin's action on Platform's thing (404 still for those who may not read it);
    # "own": one's own things (API tokens), whatever one's roles
    scope: str
    ok: int
    call: object


def expected(op: Op, who: str) -> int:
    team, anywhere, site = RANKS[who]
    need = NEEDS[op.action]
    if op.scope == "team":
        return op.ok if team >= need else 403 if team >= 0 else 404
    if op.scope == "any":
        return op.ok if anywhere >= need else 403
    if op.scope == "site":
        return op.ok if site >= need else 403
    if op.scope == "site, owned":
        return op.ok if site >= need else 403 if team >= 0 else 404
    if op.scope == "own":
        return op.ok
    # directory: teams (and who is in them) are listed to everyone signed in, changed by their admins only
    return op.ok if op.action == "read" or team >= need else 403


# --- Pages and htmx actions ----------------------------------------------------------------

HX = {"HTTP_HX_REQUEST": "true"}


def page(name, *args):
    return lambda client, w, who: client.get(reverse(name, args=[arg(w) for arg in args]))


def post(name, data, *args, **extra):
    return lambda client, w, who: client.post(
        reverse(name, args=[arg(w) for arg in args]), data(w) if callable(data) else data, **extra
    )


OPEN = lambda w: w.open.pk  # noqa: E731
STAGING = lambda w: w.staging.pk  # noqa: E731
SLUG = lambda w: "small-checklist"  # noqa: E731


def own_token(w, who) -> int:
    from core.models import ApiToken

    api_token_create(user=w.people[who], name="mine")
    return ApiToken.objects.filter(user=w.people[who], name="mine").values_list("pk", flat=True).get()


def signoff_form(w):
    return {"role": "lead", "digest": deployment_snapshot(w.ready).digest}


def proposed(call):
    """`call`, once another Platform lead has proposed a waiver of the open deployment's `health`
    (CTRLREADY_WAIVER_APPROVAL on): approving it is someone else's to do."""

    def ask(client, w, who):
        proposer = User.objects.create_user(username="proposer", password="pw")
        Membership.objects.create(team=w.staging.service.team, user=proposer, role="lead")
        with override_settings(CTRLREADY_WAIVER_APPROVAL=True):
            item_state_set(deployment_id=w.open.pk, key="health", state="waived", note="LB", actor=proposer, source="api")
            return call(client, w, who)

    return ask


PAGES = [
    Op("dashboard", "read", "any", 200, page("dashboard")),
    Op("deployment page", "read", "team", 200, page("deployment", OPEN)),
    Op("deployment page, htmx part", "read", "team", 200,
       lambda c, w, who: c.get(reverse("deployment", args=[w.open.pk]) + "?part=progress", **HX)),
    Op("live changes (htmx poll), nothing new", "read", "team", 204,
       lambda c, w, who: c.get(reverse("deployment", args=[w.open.pk]) + f"?part=changes&since={live_version(w.open.pk)}", **HX)),
    Op("item page", "read", "team", 200, page("item", OPEN, lambda w: "rollback")),
    Op("history", "read", "team", 200, page("deployment-history", OPEN)),
    Op("compare", "read", "team", 200, page("deployment-compare", OPEN, lambda w: w.ready.pk)),
    Op("report.md", "read", "team", 200, page("deployment-report", OPEN, lambda w: "md")),
    Op("report.json", "read", "team", 200, page("deployment-report", OPEN, lambda w: "json")),
    Op("report.pdf (its drawing queued)", "read", "team", 202, page("deployment-report", OPEN, lambda w: "pdf")),
    Op("report.pdf drawn again", "read", "team", 302, post("deployment-report", {}, OPEN, lambda w: "pdf")),
    Op("service page", "read", "team", 200, page("service", lambda w: w.staging.service_id)),
    Op("environment page", "read", "team", 200, page("environment", STAGING)),
    Op("environment settings", "manage", "team", 200, page("environment-edit", STAGING)),
    Op("new environment page", "manage", "any", 200, page("environment-new")),
    Op("checklists", "read", "any", 200, page("checklists")),
    Op("checklist", "read", "any", 200, page("checklist", SLUG)),
    Op("checklist diff", "read", "any", 200,
       lambda c, w, who: c.get(reverse("checklist-diff", args=["small-checklist"]) + "?from=1&to=1")),
    Op("people", "manage", "site", 200, page("people")),
    Op("teams", "read", "directory", 200, lambda c, w, who: c.get(reverse("teams"))),
    Op("team page", "read", "directory", 200, lambda c, w, who: c.get(reverse("team", args=["platform"]))),
    # Actions (forms posted without JavaScript, and the same through htmx)
    Op("tick", "tick", "team", 302, post("item", {"state": "passed"}, OPEN, lambda w: "rollback")),
    Op("tick (htmx)", "tick", "team", 200, post("item", {"state": "passed"}, OPEN, lambda w: "rollback", **HX)),
    Op("bulk tick", "tick", "team", 302,
       post("deployment-items", {"pick": ["pending:rollback"], "state": "passed"}, OPEN)),
    Op("bulk tick (htmx)", "tick", "team", 200,
       post("deployment-items", {"pick": ["pending:rollback"], "state": "passed"}, OPEN, **HX)),
    Op("note", "tick", "team", 302, post("item", {"note": "Checked with ops"}, OPEN, lambda w: "rollback")),
    Op("waive", "waive", "team", 302, post("item", {"state": "waived", "note": "LB"}, OPEN, lambda w: "health")),
    Op("take an item", "tick", "team", 302,
       lambda c, w, who: c.post(reverse("item", args=[w.open.pk, "rollback"]), {"assignee": who})),
    Op("assign someone else", "assign", "team", 302, post("item", {"assignee": "p-viewer"}, OPEN, lambda w: "rollback")),
    Op("waive until", "waive", "team", 302,
       post("item", {"state": "waived", "note": "LB", "for_days": "7"}, OPEN, lambda w: "health")),
    Op("approve a waiver", "waive", "team", 302, proposed(post("item-approve", {}, OPEN, lambda w: "health"))),
    Op("comment", "comment", "team", 302, post("item-comment", {"text": "Done, @p-lead"}, OPEN, lambda w: "rollback")),
    Op("waiting on me", "read", "any", 200, page("me")),
    Op("run probes", "run", "team", 302, post("deployment-runs", {"key": "health"}, OPEN)),
    Op("run probes (htmx)", "run", "team", 200, post("deployment-runs", {"key": "health"}, OPEN, **HX)),
    Op("sign off", "signoff", "team", 302, post("deployment-signoff", signoff_form, lambda w: w.ready.pk)),
    Op("reopen", "reopen", "team", 302, post("deployment-reopen", {"reason": "A bug"}, lambda w: w.signed.pk)),
    Op("move the due time", "run", "team", 302, post("deployment-due", {"due_at": "2099-01-01T10:00"}, OPEN)),
    Op("new deployment", "run", "team", 302,
       post("environment-deploy", {"checklist": "small-checklist", "release": "v7"}, STAGING)),
    Op("promote", "run", "team", 302,
       post("deployment-promote", lambda w: {"environment": w.production.pk}, lambda w: w.signed.pk)),
    Op("environment settings saved", "manage", "team", 302,
       post("environment-edit", {"base_url": "http://127.0.0.1:9"}, STAGING)),
    Op("secret set", "manage", "team", 302, post("environment-secret", {"name": "TOKEN", "value": "s3cret"}, STAGING)),
    Op("ssh host added", "manage", "team", 302,
       post("environment-ssh-hosts", {"host": "127.0.0.1", "username": "deploy", "password": "pw"}, STAGING)),
    # Trusting a key needs an SSH host: past the permission check, one who may gets told to add it first.
    Op("host key", "manage", "team", 400, post("environment-host-key", {"action": "trust", "host_key": "x"}, STAGING)),
    Op("service moved to another team", "manage", "site, owned", 302,
       post("service-team", {"team": "billing"}, lambda w: w.staging.service_id)),
    Op("import preview", "manage", "any", 200,
       post("checklists", {"step": "preview", "markdown": "# T\n\n## S\n\n- [ ] one\n"})),
    Op("notifications", "read", "any", 200, page("notifications")),
    # Subscriptions to a team's events are its leads' (teams are no secret: 403 for anyone else).
    Op("subscription added (its page shown once)", "subscribe", "directory", 201,
       post("subscription-create", {"channel": "email", "target": "ops@example.com", "team": "platform"})),
    Op("tokens page", "read", "own", 200, lambda c, w, who: c.get(reverse("tokens"))),
    Op("token revoked", "read", "own", 302,
       lambda c, w, who: c.post(reverse("token-revoke", args=[own_token(w, who)]))),
    Op("team created", "manage", "site", 302, post("teams", {"name": "Search"})),
    Op("member added", "manage", "directory", 302,
       post("team-members", {"action": "set", "username": "outsider", "role": "viewer"}, lambda w: "platform")),
    Op("member removed", "manage", "directory", 302,
       post("team-members", {"action": "remove", "username": "p-viewer"}, lambda w: "platform")),
]


def answers(op: Op, world: World, ask) -> dict[str, int]:
    """The status `op` answers each person, each asking on the same world (what one changes is rolled back)."""
    got = {}
    for who in PEOPLE:
        with transaction.atomic():
            response = ask(who)
            got[who] = response.status_code
            if response.status_code not in (expected(op, who), 404):
                got[who] = (response.status_code, why(response))  # say why, in the diff
            transaction.set_rollback(True)
    return got


def why(response) -> str:
    text = response.content.decode()
    alert = re.search(r'role="alert">([^<]*)<', text)
    return alert.group(1) if alert else text[:300]


def check_refusal(response):
    if response.status_code == 404:
        assert b"belongs to a team you are not in" in response.content or b"There is no" in response.content


@pytest.mark.parametrize("op", PAGES, ids=[op.name for op in PAGES])
def test_pages_and_actions(client, world, op):
    def ask(who):
        client.force_login(world.people[who])
        response = op.call(client, world, who)
        check_refusal(response)
        return response

    assert answers(op, world, ask) == {who: expected(op, who) for who in PEOPLE}


# --- The API -------------------------------------------------------------------------------


def api(method, path, body=None):
    def call(client, w, who):
        token = api_token_create(user=w.people[who])
        url = "/api/v1/" + (path(w) if callable(path) else path)
        data = json.dumps(body(w) if callable(body) else body) if body is not None else None
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if data is not None:
            return getattr(client, method)(url, data, content_type="application/json", **kwargs)
        return getattr(client, method)(url, **kwargs)

    return call


def dep(suffix="", which="open"):
    return lambda w: f"deployments/{getattr(w, which).pk}{suffix}"


NEW_VERSION = {"name": "Small checklist", "markdown": SMALL + "- [ ] One more {#more}\n"}

API = [
    Op("POST checklists/import", "manage", "any", 201, api("post", "checklists/import", NEW_VERSION)),
    Op("POST checklists/preview", "manage", "any", 200, api("post", "checklists/preview", NEW_VERSION)),
    Op("GET checklists/<slug>/versions/<n>", "read", "any", 200, api("get", "checklists/small-checklist/versions/1")),
    Op("POST environments (its service)", "manage", "team", 201,
       api("post", "environments", {"service": "payments-api", "name": "qa", "base_url": "http://127.0.0.1:9"})),
    # A new service names its team, and teams are no secret: 403 for whoever is not its admin.
    Op("POST environments (a new service of the team)", "manage", "directory", 201,
       api("post", "environments", {"service": "ledger", "team": "platform", "name": "qa", "base_url": "http://127.0.0.1:9"})),
    Op("GET environments", "read", "any", 200, api("get", "environments")),
    Op("GET deployments", "read", "any", 200, api("get", "deployments")),
    Op("POST deployments", "run", "team", 201,
       api("post", "deployments", lambda w: {"environment": w.staging.pk, "checklist": "small-checklist", "release": "v8"})),
    Op("GET deployments/<id>", "read", "team", 200, api("get", dep())),
    Op("POST deployments/<id>/items/<key>", "tick", "team", 200, api("post", dep("/items/rollback"), {"state": "passed"})),
    Op("POST deployments/<id>/items (bulk)", "tick", "team", 200,
       api("post", dep("/items"), {"keys": ["rollback"], "state": "passed"})),
    Op("POST …/items/<key> waived", "waive", "team", 200,
       api("post", dep("/items/health"), {"state": "waived", "note": "LB"})),
    Op("POST …/items/<key> taken", "tick", "team", 200,
       lambda c, w, who: api("post", dep("/items/rollback"), {"assignee": who})(c, w, who)),
    Op("POST …/items/<key> assigned to someone else", "assign", "team", 200,
       api("post", dep("/items/rollback"), {"assignee": "p-viewer"})),
    Op("POST …/items/<key> waived for days", "waive", "team", 200,
       api("post", dep("/items/health"), {"state": "waived", "note": "LB", "for_days": 7})),
    Op("POST …/items/<key>/approve", "waive", "team", 200, proposed(api("post", dep("/items/health/approve")))),
    Op("POST …/items/<key>/comments", "comment", "team", 201,
       api("post", dep("/items/rollback/comments"), {"text": "Done, @p-lead"})),
    Op("POST deployments with due_at", "run", "team", 201,
       api("post", "deployments", lambda w: {"environment": w.staging.pk, "checklist": "small-checklist", "release": "v8",
                                             "due_at": "2099-01-01T00:00:00Z"})),
    Op("POST deployments/<id>/runs", "run", "team", 202, api("post", dep("/runs"), {"items": ["health"]})),
    Op("POST deployments/<id>/results (not external)", "run", "team", 400,
       api("post", dep("/results"), {"key": "health", "status": "passed"})),
    Op("POST deployments/<id>/signoffs", "signoff", "team", 201,
       api("post", dep("/signoffs", "ready"), lambda w: {"role": "lead", "digest": deployment_snapshot(w.ready).digest})),
    Op("POST deployments/<id>/reopen", "reopen", "team", 200, api("post", dep("/reopen", "signed"), {"reason": "A bug"})),
    Op("PUT deployments/<id>/due", "run", "team", 200, api("put", dep("/due"), {"due_at": "2099-01-01T10:00:00Z"})),
    Op("GET deployments/<id>/events", "read", "team", 200, api("get", dep("/events"))),
    Op("GET deployments/<id>/gate", "read", "team", 409, api("get", dep("/gate"))),
    Op("GET deployments/<a>/compare/<b>", "read", "team", 200,
       api("get", lambda w: f"deployments/{w.open.pk}/compare/{w.ready.pk}")),
    Op("GET deployments/<id>/report.json", "read", "team", 200, api("get", dep("/report.json"))),
    Op("GET deployments/<id>/report.pdf (its drawing queued)", "read", "team", 202, api("get", dep("/report.pdf"))),
    Op("POST deployments/<id>/report.pdf (drawn again)", "read", "team", 202, api("post", dep("/report.pdf"))),
    Op("GET teams", "read", "directory", 200, api("get", "teams")),
    Op("GET tokens", "read", "own", 200, api("get", "tokens")),
    Op("GET subscriptions", "read", "own", 200, api("get", "subscriptions")),
    Op("POST subscriptions (a team's)", "subscribe", "directory", 201,
       api("post", "subscriptions", {"channel": "email", "target": "ops@example.com", "team": "platform"})),
    Op("DELETE tokens/<id> (one's own)", "read", "own", 204,
       lambda c, w, who: api("delete", f"tokens/{own_token(w, who)}")(c, w, who)),
    Op("POST teams", "manage", "site", 201, api("post", "teams", {"name": "Search"})),
    Op("PUT teams/<slug>/members/<username>", "manage", "directory", 200,
       api("put", "teams/platform/members/outsider", {"role": "engineer"})),
    Op("DELETE teams/<slug>/members/<username>", "manage", "directory", 204,
       api("delete", "teams/platform/members/p-viewer")),
]


@pytest.mark.parametrize("op", API, ids=[op.name for op in API])
def test_api(client, world, op):
    def ask(who):
        response = op.call(client, world, who)
        if response.status_code in (403, 404):
            assert response.json()["error"].endswith(".")  # a sentence (a bulk refusal also lists `refused`)
        return response

    assert answers(op, world, ask) == {who: expected(op, who) for who in PEOPLE}


# --- Lists show only what the person may read ------------------------------------------------


@pytest.mark.parametrize("who, sees", [
    ("p-viewer", {"payments-api"}), ("b-lead", {"invoices-api"}), ("site-viewer", {"payments-api", "invoices-api"}),
])
def test_lists_show_only_what_one_may_read(client, world, who, sees):
    user = world.people[who]
    token = api_token_create(user=user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    services = {d.pk: d.environment.service.name for d in Deployment.objects.select_related("environment__service")}

    environments = client.get("/api/v1/environments", **headers).json()["environments"]
    assert {env["service"] for env in environments} == sees
    deployments = client.get("/api/v1/deployments", **headers).json()["deployments"]
    assert {services[d["id"]] for d in deployments} == sees
    # Asking for another team's environment by id finds nothing, rather than an error that tells it exists.
    other = world.billing if "payments-api" in sees else world.open
    if sees != {"payments-api", "invoices-api"}:
        listed = client.get(f"/api/v1/deployments?environment={other.environment_id}", **headers).json()
        assert listed == {"deployments": []}
    teams = {team["slug"]: team["services"] for team in client.get("/api/v1/teams", **headers).json()["teams"]}
    assert set(teams) == {"billing", "platform"}  # the directory: every team, and its members
    assert {name for names in teams.values() for name in names} == sees

    client.force_login(user)
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert {name for name in ("payments-api", "invoices-api") if name in dashboard} == sees
    history = client.get(reverse("deployment-history", args=[world.open.pk]))
    assert history.status_code == (200 if "payments-api" in sees else 404)


def test_a_member_who_leaves_takes_their_rights_with_them(client, world):
    from core.teams import membership_remove

    token = api_token_create(user=world.people["p-engineer"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(f"/api/v1/deployments/{world.open.pk}", **headers).status_code == 200
    membership_remove(
        team=Team.objects.get(slug="platform"), user=world.people["p-engineer"], actor=world.people["p-admin"], source="web"
    )
    assert client.get(f"/api/v1/deployments/{world.open.pk}", **headers).status_code == 404


@pytest.mark.parametrize("who", ["p-engineer", "site-admin"])
def test_a_tick_through_the_api_reads_the_persons_roles_once(client, world, who):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = api_token_create(user=world.people[who])
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/deployments/{world.open.pk}/items/rollback", json.dumps({"state": "passed"}),
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 200
    role_reads = [q["sql"] for q in queries.captured_queries if "core_membership" in q["sql"] or "auth_group" in q["sql"]]
    assert len(role_reads) == 1, role_reads
