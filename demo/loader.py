"""What `load_demo` loads: the bundled checklist, a person per role, the local-demo environment, an open deployment."""

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import transaction

from checklists.environments import environment_create
from checklists.models import Deployment, Environment
from checklists.services import checklist_import, deployment_create
from core.actors import SYSTEM
from core.models import Source
from demo.target import DEMO_ADDRESS, DEMO_DOMAIN, DEMO_RELEASE

BUNDLED_CHECKLIST = Path(__file__).resolve().parent.parent / "checklists" / "data" / "production-readiness-checklist.md"
DEMO_TARGET_PORT = 8001
#: The demo target also answers DNS for its domain here (UDP), for the checklist's DNS items.
DEMO_DNS_PORT = 8053
DEMO_TOKEN = "demo-token"
DEMO_USERS = {role: (role, f"ctrlready-{role}") for role in ("viewer", "engineer", "lead", "admin")}


@dataclass(frozen=True)
class Demo:
    deployment: Deployment
    logins: dict[str, tuple[str, str]]


def demo_users() -> dict[str, User]:
    users = {}
    for role, (username, password) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.is_staff = role == "admin"
            user.save()
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


@transaction.atomic
def demo_load(*, target_port: int = DEMO_TARGET_PORT, dns_port: int = DEMO_DNS_PORT) -> Demo:
    users = demo_users()
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
    return Demo(deployment=deployment, logins=DEMO_USERS)
