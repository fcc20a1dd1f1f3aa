"""JSON API for environments.  Secret values go in and never come out: answers list their names."""

from datetime import datetime

from ninja import Field, Router, Schema, Status

from checklists import environments, selectors
from checklists.models import Environment
from core import roles
from core.models import Source

router = Router()


class ErrorOut(Schema):
    error: str


class SshIn(Schema):
    role: str = Field("", description="What the host is to the service (`web`, `worker`); probes' `hosts:` names it.")
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    private_key: str | None = Field(None, description="Write-only; stored encrypted.")
    password: str | None = Field(None, description="Write-only; stored encrypted.")
    host_key: str = Field("", description="The server's public host key, e.g. from `ssh-keyscan -t ed25519 <host>`.")


class EnvironmentIn(Schema):
    service: str
    team: str | None = Field(
        None, description="The slug of the team that owns the service, when the service is new (its admins manage it)."
    )
    name: str
    base_url: str
    allowed_hosts: list[str] = []
    variables: dict[str, str | int | float | bool] = {}
    secrets: dict[str, str] = Field({}, description="Write-only; stored encrypted, never shown again.")
    ssh: SshIn | list[SshIn] | None = Field(None, description="One SSH host, or a list of hosts each with a role.")
    dns_servers: list[str] = Field([], description="DNS servers probes resolve with (`ip` or `ip:port`), each one of the environment's hosts; empty: the worker's.")
    position: int | None = Field(None, ge=0, le=999, description="Lower comes first (10 dev, 20 staging, 30 production); default: from the name.")


class SshOut(Schema):
    role: str
    host: str
    port: int
    username: str
    host_key: str
    host_key_fingerprint: str
    credentials: list[str]


class EnvironmentOut(Schema):
    id: int
    service: str
    name: str
    base_url: str
    allowed_hosts: list[str]
    variables: dict
    secrets: list[str] = Field(..., description="Names only.")
    ssh: list[SshOut]
    dns_servers: list[str]
    created_at: datetime


class EnvironmentSummaryOut(Schema):
    id: int
    service: str
    name: str
    base_url: str


class EnvironmentListOut(Schema):
    environments: list[EnvironmentSummaryOut]


def _environment_out(environment: Environment) -> dict:
    secret_names = selectors.environment_secret_names(environment)
    ssh = [
        {
            "role": host.role,
            "host": host.host,
            "port": host.port,
            "username": host.username,
            "host_key": host.host_key,
            "host_key_fingerprint": environments.host_key_fingerprint(host.host_key),
            "credentials": [name for name in ("private_key", "password") if getattr(host, name)],
        }
        for host in environment.ssh_hosts.all()
    ]
    return {
        "id": environment.pk,
        "service": environment.service.name,
        "name": environment.name,
        "base_url": environment.base_url,
        "allowed_hosts": environment.allowed_hosts,
        "variables": environment.variables,
        "secrets": secret_names,
        "ssh": ssh,
        "dns_servers": environment.dns_servers or [],
        "created_at": environment.created_at,
    }


@router.post(
    "environments", response={201: EnvironmentOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}
)
def environment_create(request, payload: EnvironmentIn):
    """Create an environment (and its service if new). Secrets are write-only: the answer lists their names."""
    environment = environments.environment_create(
        service_name=payload.service,
        name=payload.name,
        base_url=payload.base_url,
        allowed_hosts=payload.allowed_hosts,
        variables=payload.variables,
        secrets=payload.secrets,
        ssh=[host.model_dump() for host in payload.ssh] if isinstance(payload.ssh, list)
        else payload.ssh.model_dump() if payload.ssh else None,
        dns_servers=payload.dns_servers,
        team=payload.team,
        position=payload.position,
        actor=request.auth,
        source=Source.API,
    )
    environment = Environment.objects.select_related("service").get(pk=environment.pk)
    return Status(201, _environment_out(environment))


@router.get("environments", response={200: EnvironmentListOut, 401: ErrorOut, 403: ErrorOut})
def environment_list(request):
    """Every environment you may read: those of your teams' services (every one, with a site-wide role)."""
    roles.require(request.auth, "read", team=roles.ANY)
    return {
        "environments": [
            {"id": env.pk, "service": env.service.name, "name": env.name, "base_url": env.base_url}
            for env in selectors.environments_readable(request.auth)
        ]
    }
