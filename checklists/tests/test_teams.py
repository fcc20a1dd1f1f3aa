"""Teams and their members: who may change them, the history each change leaves, and the pages that do it."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from core.actors import SYSTEM
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import Event, Membership, Team
from core.teams import membership_remove, membership_set, team_create


@pytest.fixture
def platform(db):
    return team_create(name="Platform", actor=SYSTEM, source="cli")


@pytest.fixture
def site_admin(db):
    user = User.objects.create_user(username="root", password="pw")
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    return user


def member(team, username, role):
    user = User.objects.create_user(username=username, password="pw")
    Membership.objects.create(team=team, user=user, role=role)
    return user


def test_a_site_admin_creates_a_team_and_it_is_recorded(site_admin):
    team = team_create(name="  Billing   Ops ", actor=site_admin, source="web")
    assert (team.slug, team.name) == ("billing-ops", "Billing Ops")
    event = Event.objects.get(kind="team")
    assert (event.actor_name, event.after, event.data) == ("root", "created", {"team": "billing-ops"})


def test_team_creation_refusals_are_sentences(site_admin, platform):
    with pytest.raises(Conflict, match="already exists; choose another name"):
        team_create(name="platform", actor=site_admin, source="web")
    with pytest.raises(InvalidInput, match="Give the team a name"):
        team_create(name="  ", actor=site_admin, source="web")
    with pytest.raises(Forbidden, match="Only a site admin may create a team"):
        team_create(name="Search", actor=member(platform, "boss", "admin"), source="web")


def test_a_team_admin_sets_and_removes_members_each_change_an_event(platform):
    admin = member(platform, "boss", "admin")
    person = User.objects.create_user(username="ann")
    membership_set(team=platform, user=person, role="viewer", actor=admin, source="web")
    membership_set(team=platform, user=person, role="viewer", actor=admin, source="web")  # no change, no event
    membership_set(team=platform, user=person, role="lead", actor=admin, source="api")
    membership_remove(team=platform, user=person, actor=admin, source="web")

    changes = [(e.actor_name, e.before, e.after, e.source) for e in Event.objects.filter(kind="membership")]
    assert changes == [("boss", "", "viewer", "web"), ("boss", "viewer", "lead", "api"), ("boss", "lead", "", "web")]
    assert not Membership.objects.filter(user=person).exists()


@pytest.mark.parametrize("role", ["viewer", "engineer", "lead"])
def test_only_the_teams_admins_change_its_members(platform, role):
    other = team_create(name="Billing", actor=SYSTEM, source="cli")
    outsider_admin = member(other, "their-admin", "admin")
    person = member(platform, "ann", "viewer")
    for actor in (member(platform, f"p-{role}", role), outsider_admin):
        with pytest.raises(Forbidden, match="Only an admin of Platform"):
            membership_set(team=platform, user=person, role="admin", actor=actor, source="web")
        with pytest.raises(Forbidden):
            membership_remove(team=platform, user=person, actor=actor, source="web")
    assert Membership.objects.get(user=person).role == "viewer"


def test_membership_refusals_name_what_to_do(platform):
    admin = member(platform, "boss", "admin")
    person = User.objects.create_user(username="ann")
    with pytest.raises(InvalidInput, match="not a role; use one of viewer, engineer, lead, admin"):
        membership_set(team=platform, user=person, role="owner", actor=admin, source="web")
    with pytest.raises(NotFound, match="ann is not a member of Platform"):
        membership_remove(team=platform, user=person, actor=admin, source="web")


def test_the_team_page_adds_changes_and_removes_members_without_javascript(client, platform):
    client.force_login(member(platform, "boss", "admin"))
    User.objects.create_user(username="ann")
    url = reverse("team-members", args=["platform"])

    assert client.post(url, {"action": "set", "username": "ann", "role": "engineer"}).status_code == 302
    page = client.get(reverse("team", args=["platform"])).content.decode()
    assert 'data-member="ann"' in page and "Add a member" in page and "ann is engineer in Platform." in page
    client.post(url, {"action": "set", "username": "ann", "role": "lead"})
    assert Membership.objects.get(user__username="ann").role == "lead"
    client.post(url, {"action": "remove", "username": "ann"})
    assert not Membership.objects.filter(user__username="ann").exists()

    missing = client.post(url, {"action": "set", "username": "nobody", "role": "viewer"})
    assert missing.status_code == 404 and b"There is no user" in missing.content


def test_the_teams_page_lists_teams_members_and_readable_services(client, platform):
    from checklists.models import Service

    Service.objects.create(name="payments-api", team=platform)
    billing = team_create(name="Billing", actor=SYSTEM, source="cli")
    Service.objects.create(name="invoices-api", team=billing)
    client.force_login(member(platform, "ann", "viewer"))
    page = client.get(reverse("teams")).content.decode()
    assert "Platform" in page and "Billing" in page and "ann" in page
    assert "payments-api" in page and "invoices-api" not in page
    assert "New team" not in page and "Add a member" not in client.get(reverse("team", args=["platform"])).content.decode()
    assert client.get(reverse("team", args=["nope"])).status_code == 404


def test_a_site_admin_creates_a_team_on_the_page(client, site_admin):
    client.force_login(site_admin)
    response = client.post(reverse("teams"), {"name": "Search"})
    assert response.status_code == 302 and response["Location"] == reverse("team", args=["search"])
    assert Team.objects.filter(slug="search").exists()


def test_a_new_service_goes_to_the_team_its_creator_administers(platform, site_admin, fernet_key):
    from checklists.environments import environment_create

    admin = member(platform, "boss", "admin")
    create = lambda **kw: environment_create(name="qa", base_url="http://127.0.0.1:9", source="api", **kw)  # noqa: E731
    environment = create(service_name="ledger", team="platform", actor=admin)
    assert environment.service.team == platform
    with pytest.raises(Forbidden, match="Say which team owns the new service"):
        create(service_name="orphan", actor=admin)
    with pytest.raises(InvalidInput, match="There is no team `nope`"):
        create(service_name="orphan", team="nope", actor=admin)
    with pytest.raises(Forbidden, match="Only an admin of Billing"):
        create(service_name="orphan", team=team_create(name="Billing", actor=SYSTEM, source="cli").slug, actor=admin)
    with pytest.raises(InvalidInput, match="ledger belongs to team `platform`, not `billing`"):
        create(service_name="ledger", team="billing", actor=site_admin)
    assert create(service_name="shared", actor=site_admin).service.team is None  # site admins only


def test_a_site_admin_moves_a_service_to_another_team_and_it_is_recorded(client, platform, site_admin):
    from checklists.models import Service

    service = Service.objects.create(name="payments-api")
    client.force_login(site_admin)
    assert b"No team: only site-wide roles reach it" in client.get(reverse("service", args=[service.pk])).content
    response = client.post(reverse("service-team", args=[service.pk]), {"team": "platform"})
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.team == platform
    event = Event.objects.get(kind="team", data__service="payments-api")
    assert (event.actor_name, event.before, event.after) == ("root", "", "platform")
    assert "payments-api moved from no team to Platform." in client.get(reverse("team", args=["platform"])).content.decode()
    assert client.post(reverse("service-team", args=[service.pk]), {"team": "nope"}).status_code == 400

    client.force_login(member(platform, "boss", "admin"))
    refused = client.post(reverse("service-team", args=[service.pk]), {"team": ""})
    assert refused.status_code == 403 and b"Only a site admin moves a service" in refused.content


def test_the_last_admin_of_a_team_can_neither_step_down_nor_leave(platform, site_admin):
    boss = member(platform, "boss", "admin")
    for change in (
        lambda: membership_set(team=platform, user=boss, role="lead", actor=boss, source="web"),
        lambda: membership_remove(team=platform, user=boss, actor=boss, source="web"),
    ):
        with pytest.raises(Conflict, match="boss is the last admin of Platform; make someone else its admin first"):
            change()
    assert Membership.objects.get(user=boss).role == "admin"
    assert not Event.objects.filter(kind="membership").exists()

    # With a second admin, either may step down; a site admin may take away the last one.
    deputy = member(platform, "deputy", "admin")
    membership_set(team=platform, user=boss, role="lead", actor=boss, source="web")
    with pytest.raises(Conflict, match="deputy is the last admin"):
        membership_remove(team=platform, user=deputy, actor=deputy, source="web")
    membership_remove(team=platform, user=deputy, actor=site_admin, source="web")
    assert not Membership.objects.filter(team=platform, role="admin").exists()


def test_the_team_page_says_why_the_last_admin_stays(client, platform):
    client.force_login(member(platform, "boss", "admin"))
    answer = client.post(reverse("team-members", args=["platform"]), {"action": "set", "username": "boss", "role": "viewer"})
    assert answer.status_code == 409 and b"boss is the last admin of Platform" in answer.content
    assert Membership.objects.get(user__username="boss").role == "admin"


def test_the_api_answers_409_to_taking_away_the_last_admin(client, platform):
    client.force_login(member(platform, "boss", "admin"))
    url = "/api/v1/teams/platform/members/boss"
    demoted = client.put(url, {"role": "lead"}, content_type="application/json")
    removed = client.delete(url)
    for answer in (demoted, removed):
        assert answer.status_code == 409
        assert answer.json()["error"].startswith("boss is the last admin of Platform")
    assert Membership.objects.get(user__username="boss").role == "admin"
