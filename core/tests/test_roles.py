"""The roles module: every question names its team, and a person's roles cost one query per request."""

import pytest
from django.contrib.auth.models import Group, User

from core import roles
from core.actors import SYSTEM
from core.errors import Forbidden, NotFound
from core.models import Membership, Team


@pytest.fixture
def teams(db):
    return Team.objects.create(slug="platform", name="Platform"), Team.objects.create(slug="billing", name="Billing")


def person(username, *, site=None, **memberships):
    user = User.objects.create_user(username=username)
    if site:
        user.groups.add(Group.objects.get_or_create(name=site)[0])
    for team, role in memberships.items():
        Membership.objects.create(team=Team.objects.get(slug=team), user=user, role=role)
    return User.objects.get(pk=user.pk)  # fresh: nothing kept on it yet


@pytest.mark.parametrize("question", [roles.can, roles.require])
def test_asking_without_a_team_is_a_type_error(db, question):
    user = person("someone", site="admin")
    with pytest.raises(TypeError, match="team"):
        question(user, "read")


def test_the_team_must_be_a_team_an_id_none_or_any(teams):
    user = person("someone", site="viewer")
    with pytest.raises(TypeError, match="team"):
        roles.can(user, "read", team="platform")
    with pytest.raises(TypeError, match="team"):
        roles.can(SYSTEM, "read", team="platform")


def test_a_team_role_applies_on_that_team_only(teams):
    platform, billing = teams
    lead = person("lead", platform="lead")
    assert roles.can(lead, "signoff", team=platform)
    assert roles.can(lead, "signoff", team=platform.pk)
    assert not roles.can(lead, "read", team=billing)
    assert not roles.can(lead, "read", team=None)  # a service with no team: site-wide roles only
    assert roles.can(lead, "waive", team=roles.ANY)
    assert roles.user_role(lead, team=platform) == "lead" and roles.user_role(lead, team=billing) is None


def test_a_site_role_applies_everywhere_and_the_better_of_two_counts(teams):
    platform, billing = teams
    viewer = person("viewer", site="viewer", billing="engineer")
    assert roles.can(viewer, "read", team=platform) and roles.can(viewer, "read", team=None)
    assert not roles.can(viewer, "tick", team=platform)
    assert roles.can(viewer, "tick", team=billing)
    superuser = User.objects.create_superuser(username="root")
    assert roles.can(superuser, "manage", team=billing) and roles.can(superuser, "manage", team=None)


def test_refusals_are_404_where_one_may_not_read_and_403_where_one_may(teams):
    platform, billing = teams
    viewer = person("viewer", platform="viewer")
    with pytest.raises(Forbidden, match="needs the engineer role in the team that owns it"):
        roles.require(viewer, "tick", team=platform)
    with pytest.raises(NotFound, match="belongs to a team you are not in"):
        roles.require(viewer, "read", team=billing)
    with pytest.raises(NotFound):
        roles.require(viewer, "tick", team=billing)
    with pytest.raises(Forbidden, match="needs the admin role; ask an admin"):
        roles.require(viewer, "manage", team=roles.ANY)


def test_the_system_reads_runs_and_manages_but_decides_nothing(teams):
    platform, _ = teams
    assert roles.can(SYSTEM, "run", team=platform) and roles.can(SYSTEM, "manage", team=None)
    with pytest.raises(Forbidden, match="ctrlready itself may not signoff"):
        roles.require(SYSTEM, "signoff", team=platform)


def test_lists_filter_to_the_teams_one_may_read(teams):
    platform, billing = teams
    member = person("member", platform="viewer")
    assert roles.readable_teams(member) == frozenset({platform.pk})
    assert roles.readable_teams(person("site", site="viewer")) is roles.ALL
    assert roles.readable_teams(person("nobody")) == frozenset()
    assert list(Team.objects.filter(roles.readable_q(member, "pk"))) == [platform]
    assert list(Team.objects.filter(roles.readable_q(person("none"), "pk"))) == []
    assert roles.managed_teams(person("admin", billing="admin")) == frozenset({billing.pk})


def test_every_question_of_a_request_costs_one_query(teams, django_assert_num_queries):
    platform, billing = teams
    user = person("busy", site="viewer", platform="lead", billing="engineer")
    with django_assert_num_queries(1):
        for team in (platform, billing.pk, None, roles.ANY):
            for action in roles.ACTIONS:
                roles.can(user, action, team=team)
        roles.readable_teams(user)
        roles.managed_teams(user)
        roles.user_role(user, team=platform)
    assert roles.user_role(user, team=platform) == "lead"
    assert roles.user_role(user, team=billing) == "engineer"
    assert roles.user_role(user, team=None) == "viewer"
    roles.forget(user)
    with django_assert_num_queries(1):
        roles.can(user, "read", team=platform)
