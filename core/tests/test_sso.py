"""Single sign-on's roles claim: the pure mapping, then the sync that every sign-in runs."""

import pytest
from django.contrib.auth.models import Group

from core.models import Event, Membership, Team
from core.sso import WantedRoles, roles_from_claims, sso_roles_sync

# --- The mapping, a plain function ----------------------------------------------------------------------


def test_team_and_site_wide_values_map_to_roles():
    wanted = roles_from_claims(
        {"groups": ["ctrlready:payments:lead", "ctrlready:search:viewer", "ctrlready:*:engineer"]}
    )

    assert wanted == WantedRoles(site="engineer", teams={"payments": "lead", "search": "viewer"})


def test_the_highest_role_wins_when_one_team_is_named_twice():
    wanted = roles_from_claims({"groups": ["ctrlready:payments:viewer", "ctrlready:payments:admin", "ctrlready:payments:lead"]})

    assert wanted.teams == {"payments": "admin"}


@pytest.mark.parametrize(
    "value",
    [
        "payments-admins",  # another application's group
        "ctrlready:payments",  # no role
        "ctrlready:payments:superhero",  # not a role
        "ctrlready::lead",  # no team
        "other:payments:lead",  # another prefix
        "ctrlready:payments:lead:extra",
        42,
        None,
    ],
)
def test_values_that_are_not_ours_grant_nothing(value):
    assert roles_from_claims({"groups": [value]}) == WantedRoles()


def test_a_missing_or_odd_claim_grants_nothing():
    assert roles_from_claims({}) == WantedRoles()
    assert roles_from_claims({"groups": None}) == WantedRoles()
    assert roles_from_claims({"groups": {"ctrlready:*:admin": True}}) == WantedRoles()


def test_a_single_string_claim_counts_as_one_value():
    assert roles_from_claims({"groups": "ctrlready:*:lead"}) == WantedRoles(site="lead")


def test_the_claim_name_is_a_setting():
    claims = {"groups": ["ctrlready:*:admin"], "roles": ["ctrlready:*:viewer"]}

    assert roles_from_claims(claims, claim="roles") == WantedRoles(site="viewer")


def test_roles_and_teams_are_read_as_written_apart_from_role_case_and_spaces():
    assert roles_from_claims({"groups": [" ctrlready:Payments:LEAD "]}).teams == {"Payments": "lead"}


# --- The sync at every sign-in ---------------------------------------------------------------------------


@pytest.fixture
def teams(db):
    return {slug: Team.objects.create(slug=slug, name=slug.title()) for slug in ("payments", "search")}


def roles_of(user) -> tuple[set, dict]:
    site = set(user.groups.values_list("name", flat=True))
    teams = dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))
    return site, teams


def test_sync_grants_what_the_claim_names(people, teams):
    user = people["outsider"]

    sso_roles_sync(user=user, wanted=WantedRoles(site="viewer", teams={"payments": "lead"}))

    assert roles_of(user) == ({"viewer"}, {"payments": "lead"})


def test_sync_takes_away_what_the_claim_no_longer_names(people, teams):
    user = people["engineer"]  # site-wide engineer
    Membership.objects.create(team=teams["search"], user=user, role="admin")
    Membership.objects.create(team=teams["payments"], user=user, role="viewer")

    sso_roles_sync(user=user, wanted=WantedRoles(teams={"payments": "lead"}))

    assert roles_of(user) == (set(), {"payments": "lead"})


def test_every_change_is_an_event_by_the_person_signing_in(people, teams):
    user = people["engineer"]
    Membership.objects.create(team=teams["search"], user=user, role="admin")
    Membership.objects.create(team=teams["payments"], user=user, role="viewer")

    sso_roles_sync(user=user, wanted=WantedRoles(site="lead", teams={"payments": "lead"}))

    events = Event.objects.filter(kind=Event.Kind.MEMBERSHIP).order_by("id")
    assert [(e.data["team"], e.before, e.after) for e in events] == [
        ("*", "engineer", "lead"),
        ("search", "admin", ""),
        ("payments", "viewer", "lead"),
    ]
    assert {(e.actor_id, e.actor_name, e.source, e.note) for e in events} == {
        (user.pk, "engineer", "web", "single sign-on")
    }


def test_a_sign_in_that_changes_nothing_records_nothing(people, teams):
    user = people["outsider"]
    wanted = WantedRoles(site="viewer", teams={"payments": "lead"})
    sso_roles_sync(user=user, wanted=wanted)
    count = Event.objects.count()

    sso_roles_sync(user=user, wanted=wanted)

    assert Event.objects.count() == count


def test_a_team_ctrlready_does_not_have_is_not_created(people, teams, caplog):
    user = people["outsider"]

    sso_roles_sync(user=user, wanted=WantedRoles(teams={"typo-team": "admin", "search": "viewer"}))

    assert not Team.objects.filter(slug="typo-team").exists()
    assert roles_of(user) == (set(), {"search": "viewer"})
    assert "typo-team" in caplog.text


def test_groups_that_are_not_roles_are_left_alone(people, teams):
    user = people["outsider"]
    user.groups.add(Group.objects.create(name="newsletter"))

    sso_roles_sync(user=user, wanted=WantedRoles(site="viewer"))

    assert roles_of(user)[0] == {"viewer", "newsletter"}
