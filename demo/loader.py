"""What `load_demo` loads: the bundled checklist, two teams and their people, the local-demo environment of
`ctrlchecks-api` (team Platform) and `staging` of `billing-api` (team Billing), each with an open deployment.

The demo people hold their roles in Platform, so they see Billing's service not at all; `admin` is also a
site admin (break-glass: every team's everything), and `billing-lead` leads Billing only.
"""

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import transaction

from checklists.deployments import deployment_create
from checklists.environments import environment_create
from checklists.imports import checklist_import
from checklists.models import Deployment, Environment, Service
from core.actors import SYSTEM
from core.models import Source, Team
from core.teams import membership_set, team_create
from demo.target import DEMO_ADDRESS, DEMO_DOMAIN, DEMO_RELEASE

BUNDLED_CHECKLIST = Path(__file__).resolve().parent.parent / "checklists" / "data" / "production-readiness-checklist.md"
DEMO_TARGET_PORT = 8001
#: The demo target also answers DNS for its domain here (UDP), for the checklist's DNS items.
DEMO_DNS_PORT = 8053
DEMO_TOKEN = "demo-token"
DEMO_USERS = {role: (role, f"ctrlready-{role}") for role in ("viewer", "engineer", "lead", "admin")}
#: The second team's lead: sees and signs off Billing's deployments, not Platform's.
BILLING_LEAD = ("billing-lead", "ctrlready-billing-lead")
#: Every demo login: what it is, its username and password.
DEMO_LOGINS = {
    **{f"{role} (Platform)": login for role, login in DEMO_USERS.items() if role != "admin"},
    "admin (site-wide)": DEMO_USERS["admin"],
    "lead (Billing)": BILLING_LEAD,
}


@dataclass(frozen=True)
class Demo:
    deployment: Deployment
    logins: dict[str, tuple[str, str]]


def _demo_user(username: str, password: str, *, staff: bool = False) -> User:
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_password(password)
        user.is_staff = staff
        user.save()
    return user


def _team(slug: str, name: str) -> Team:
    return Team.objects.filter(slug=slug).first() or team_create(name=name, actor=SYSTEM, source=Source.CLI)


def demo_users() -> dict[str, User]:
    """A person per role in Platform; `admin` also site-wide; `billing-lead` leads Billing."""
    platform, billing = _team("platform", "Platform"), _team("billing", "Billing")
    users = {}
    for role, (username, password) in DEMO_USERS.items():
        user = _demo_user(username, password, staff=role == "admin")
        # Roles are per team: only the break-glass admin keeps a site-wide one.
        user.groups.set([Group.objects.get(name="admin")] if role == "admin" else [])
        membership_set(team=platform, user=user, role=role, actor=SYSTEM, source=Source.CLI)
        users[role] = user
    users["billing-lead"] = _demo_user(*BILLING_LEAD)
    users["billing-lead"].groups.set([])
    membership_set(team=billing, user=users["billing-lead"], role="lead", actor=SYSTEM, source=Source.CLI)
    return users


@transaction.atomic
def demo_load(*, target_port: int = DEMO_TARGET_PORT, dns_port: int = DEMO_DNS_PORT) -> Demo:
    users = demo_users()
    # A demo loaded before teams existed: its service becomes Platform's.
    Service.objects.filter(name="ctrlchecks-api", team=None).update(team=Team.objects.get(slug="platform"))
    imported = checklist_import(markdown=BUNDLED_CHECKLIST.read_text(encoding="utf-8"), actor=SYSTEM, source=Source.CLI)
    environment = Environment.objects.filter(service__name="ctrlchecks-api", name="local-demo").first()
    if environment is None:
        environment = environment_create(
            service_name="ctrlchecks-api",
            name="local-demo",
            base_url=f"http://127.0.0.1:{target_port}",
            allowed_hosts=["localhost", DEMO_DOMAIN],
            variables={"DOMAIN": DEMO_DOMAIN, "PUBLIC_IP": DEMO_ADDRESS, "APP_DIR": "/opt/ctrlchecks"},
            secrets={"API_TOKEN": DEMO_TOKEN},
            dns_servers=[f"127.0.0.1:{dns_port}"],
            team="platform",
            actor=users["admin"],
            source=Source.CLI,
        )
    deployment = (
        Deployment.objects.filter(environment=environment, status=Deployment.Status.OPEN).order_by("-created_at").first()
    )
    if deployment is None:
        deployment = deployment_create(
            environment=environment,
            checklist_slug=imported.version.checklist.slug,
            release=DEMO_RELEASE,
            actor=users["engineer"],
            source=Source.CLI,
        )
    _billing_load(users, imported.version, target_port=target_port)
    return Demo(deployment=deployment, logins=DEMO_USERS)


def _billing_load(users: dict[str, User], version, *, target_port: int) -> Deployment:
    """Billing's service, pointed at the same demo target, with an open deployment its lead can take through."""
    environment = Environment.objects.filter(service__name="billing-api", name="staging").first()
    if environment is None:
        environment = environment_create(
            service_name="billing-api",
            name="staging",
            base_url=f"http://127.0.0.1:{target_port}",
            allowed_hosts=["localhost"],
            secrets={"API_TOKEN": DEMO_TOKEN},
            team="billing",
            actor=users["admin"],
            source=Source.CLI,
        )
    deployment = Deployment.objects.filter(environment=environment, status=Deployment.Status.OPEN).first()
    if deployment is None:
        deployment = deployment_create(
            environment=environment,
            checklist_slug=version.checklist.slug,
            release="v2.3.0",
            actor=users["billing-lead"],
            source=Source.CLI,
        )
    return deployment
