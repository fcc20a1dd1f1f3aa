"""Environments: where a service runs, what its probes may reach, and its write-only secrets.

Secret values go in encrypted and come out only through `environment_secrets`, for the probe
runner.  They never appear in an event, a log line or an answer: those carry secret names only.
"""

import ipaddress
import logging
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from checklists.hostkeys import HostKeyError
from checklists.hostkeys import host_key_parse as _host_key_parse
from checklists.hosts import environment_hosts, ssh_host_refusal
from checklists.models import Environment, EnvironmentSecret, Service, SSHHost
from core import crypto, roles
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.events import event_append
from core.models import Event, Team
from core.text import excerpt

logger = logging.getLogger(__name__)

MAX_SECRET_BYTES = 64 * 1024
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_ROLE = re.compile(r"[A-Za-z0-9_.\-]{0,50}\Z")


# --- Validation -------------------------------------------------------------------


def _host(value: object, field: str) -> str:
    """A host name or IP address, lower-cased; refused with a sentence otherwise."""
    host = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host and len(host) <= 253 and all(_HOST_LABEL.match(label) for label in host.split(".")):
        return host
    raise InvalidInput(
        f"`{field}` must be a host name like `api.example.com` or an IP address, not `{excerpt(value)}`."
    )


def _base_url(value: str) -> str:
    url = (value or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("`base_url` must be an http:// or https:// URL with a host, e.g. https://api.example.com.")
    if parts.username or parts.password:
        raise InvalidInput("`base_url` must not carry a user name or password; put credentials in `secrets`.")
    if len(url) > 500:
        raise InvalidInput("`base_url` is longer than 500 characters.")
    _host(parts.hostname, "base_url")
    return url.rstrip("/") if parts.path in ("", "/") else url


def _allowed_hosts(values) -> list[str]:
    if not isinstance(values, (list, tuple)):
        raise InvalidInput("`allowed_hosts` must be a list of host names.")
    hosts = []
    for value in values:
        host = _host(value, "allowed_hosts")
        if host not in hosts:
            hosts.append(host)
    return hosts


def _dns_servers(values, hosts: tuple[str, ...]) -> list[str]:
    """`ip` or `ip:port` (`[ip6]:port`), each an address of the environment's hosts: probes send nothing elsewhere."""
    if not isinstance(values, (list, tuple)):
        raise InvalidInput("`dns_servers` must be a list of addresses like `10.0.0.2` or `10.0.0.2:5353`.")
    servers = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([0-9.]+)(?::(\d{1,5}))?|([0-9A-Fa-f:]+)", text)
        address = port = None
        if match:
            address = match.group(1) or match.group(3) or match.group(5)
            port = int(match.group(2) or match.group(4) or 53)
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                address = None
        if not address or not 1 <= port <= 65535:
            raise InvalidInput(f"`dns_servers` holds `{text[:60]}`: give an IP address, or `address:port`.")
        if address not in hosts:
            raise InvalidInput(
                f"The DNS server `{address}` is not this environment's base URL host or one of its allowed hosts; "
                "add it to the allowed hosts first."
            )
        shown = address if port == 53 else (f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
        if shown not in servers:
            servers.append(shown)
    return servers


def _variables(values) -> dict:
    if not isinstance(values, dict):
        raise InvalidInput("`variables` must be an object of names to values.")
    for name, value in values.items():
        if not NAME_RE.match(str(name)):
            raise InvalidInput(f"Variable name `{excerpt(name)}` is not valid: use letters, digits and `_`, e.g. `API_HOST`.")
        if not isinstance(value, (str, int, float, bool)):
            raise InvalidInput(f"Variable `{excerpt(name)}` must be a string, a number or true/false.")
    return dict(values)


def _secret_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"Secret name `{excerpt(name)}` is not valid: use letters, digits and `_`, e.g. `API_TOKEN`.")
    return name


def _secret_value(name: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Secret `{excerpt(name)}` needs a non-empty string value.")
    if len(value.encode("utf-8")) > MAX_SECRET_BYTES:
        raise InvalidInput(f"Secret `{excerpt(name)}` is larger than 64 KB.")
    return value


#: Where an environment stands by default, by the words in its name: a release goes dev → staging → production.
_STAGES = (
    (10, {"dev", "development", "local", "test", "testing", "sandbox", "ci"}),
    (20, {"staging", "stage", "qa", "uat", "preprod", "pre", "preview", "demo"}),
    (30, {"production", "prod", "live"}),
)
POSITION_MAX = 999


def environment_position_default(name: str) -> int:
    """10 for a development environment, 20 for staging (and anything unknown), 30 for production."""
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    for position, names in reversed(_STAGES):  # "prod-like staging" is still production's neighbour, not dev's
        if words & names:
            return position
    return 20


def _position(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POSITION_MAX:
        raise InvalidInput(f"The position is a whole number from 0 to {POSITION_MAX}; lower comes first.")
    return value


def _text(value, field: str, max_length: int) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(f"`{field}` is required.")
    if len(text) > max_length:
        raise InvalidInput(f"`{field}` is longer than {max_length} characters.")
    return text


def host_key_parse(host_key: str, field: str = "host_key") -> tuple[str, str]:
    """An OpenSSH public host key (`type base64`, or a known_hosts line) → (normalised key, fingerprint)."""
    try:
        key = _host_key_parse(host_key, field=field)
    except HostKeyError as error:
        raise InvalidInput(str(error)) from None
    return key.line, key.fingerprint


def host_key_fingerprint(host_key: str) -> str:
    """The SHA256 fingerprint of a stored host key, or "" when there is none."""
    if not host_key:
        return ""
    try:
        return _host_key_parse(host_key).fingerprint
    except HostKeyError:
        return ""


def _ssh_hosts(ssh) -> list[dict]:
    """`ssh` as the API takes it — one host, or a list of hosts each with a role — as a list."""
    if ssh is None:
        return []
    hosts = ssh if isinstance(ssh, list) else [ssh]
    parsed = [_ssh(host, f"ssh[{n}]" if isinstance(ssh, list) else "ssh") for n, host in enumerate(hosts)]
    seen = set()
    for host in parsed:
        if (host["host"], host["port"]) in seen:
            raise InvalidInput(f"The SSH host {host['host']}:{host['port']} is given twice; give each host once.")
        seen.add((host["host"], host["port"]))
    return parsed


def _ssh(ssh: dict, field: str = "ssh") -> dict:
    if not isinstance(ssh, dict):
        raise InvalidInput(f"`{field}` must be an object with `host`, `port`, `username` and a key or password.")
    port = ssh.get("port", 22) or 22
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput(f"`{field}.port` must be a number from 1 to 65535.")
    role = ssh.get("role") or ""
    if not isinstance(role, str) or not _ROLE.match(role):
        raise InvalidInput(f"`{field}.role` is a word like `web` or `worker` (letters, digits, `-`, `_`, `.`).")
    private_key = ssh.get("private_key") or ""
    password = ssh.get("password") or ""
    if private_key:
        if not isinstance(private_key, str) or "PRIVATE KEY-----" not in private_key:
            raise InvalidInput(f"`{field}.private_key` must be a private key in PEM or OpenSSH format (-----BEGIN … PRIVATE KEY-----).")
        _secret_value(f"{field}.private_key", private_key)
    if password:
        _secret_value(f"{field}.password", password)
    host_key = ssh.get("host_key") or ""
    if host_key:
        host_key_parse(host_key, field=f"{field}.host_key")
    return {
        "role": role,
        "host": _host(ssh.get("host"), f"{field}.host"),
        "port": port,
        "username": _text(ssh.get("username"), f"{field}.username", 100),
        "host_key": host_key,
        "private_key": private_key,
        "password": password,
    }


def _ssh_host_check(host: str, base_url: str, allowed_hosts: list[str]) -> None:
    refusal = ssh_host_refusal(host, environment_hosts(base_url, allowed_hosts))
    if refusal:
        raise InvalidInput(refusal)


def ssh_host_check(ssh_host: SSHHost) -> None:
    """Before anything connects to an SSH host (fetching its key): it must be one of its environment's hosts."""
    environment = ssh_host.environment
    _ssh_host_check(ssh_host.host, environment.base_url, environment.allowed_hosts or [])


def ssh_host_credentials(ssh_host: SSHHost) -> tuple[str | None, str | None]:
    """The host's private key and password, decrypted: for the probe runner only, never for display."""
    values = []
    for ciphertext in (ssh_host.private_key, ssh_host.password):
        try:
            values.append(crypto.decrypt(ciphertext) if ciphertext else None)
        except crypto.SecretUnreadable:
            logger.warning("The SSH credentials of host %s cannot be decrypted with CTRLREADY_SECRET_KEYS.", ssh_host.pk)
            values.append(None)
    return values[0], values[1]


def ssh_host_add(*, environment: Environment, ssh: dict, actor, source: str) -> SSHHost:
    """Add an SSH host (its credentials encrypted); an admin's recorded action."""
    roles.require(actor, "manage", team=environment.owner_team_id)
    parsed = _ssh(ssh)
    with transaction.atomic():
        environment = Environment.objects.select_for_update().get(pk=environment.pk)
        _ssh_host_check(parsed["host"], environment.base_url, environment.allowed_hosts or [])
        if environment.ssh_hosts.filter(host=parsed["host"], port=parsed["port"]).exists():
            raise Conflict(f"{parsed['host']}:{parsed['port']} is already one of this environment's SSH hosts.")
        ssh_host = _ssh_host_store(environment, parsed, position=environment.ssh_hosts.count())
        event_append(
            kind=Event.Kind.ENVIRONMENT, source=source, actor=actor, environment=environment, after="ssh host added",
            note=f"Added SSH host {ssh_host}.", data={"ssh_host": ssh_host.label, "role": ssh_host.role},
        )
        if parsed["host_key"]:
            host_key_trust(environment=environment, ssh_host=ssh_host, host_key=parsed["host_key"], actor=actor, source=source)
    return ssh_host


def ssh_host_remove(*, environment: Environment, ssh_host_id: int, actor, source: str) -> None:
    roles.require(actor, "manage", team=environment.owner_team_id)
    with transaction.atomic():
        ssh_host = SSHHost.objects.select_for_update().filter(environment=environment, pk=ssh_host_id).first()
        if ssh_host is None:
            raise NotFound("This environment has no such SSH host.")
        label = str(ssh_host)
        ssh_host.delete()
        event_append(
            kind=Event.Kind.ENVIRONMENT, source=source, actor=actor, environment=environment, after="ssh host removed",
            note=f"Removed SSH host {label}.", data={"ssh_host": label},
        )


def _ssh_host_store(environment: Environment, parsed: dict, *, position: int) -> SSHHost:
    return SSHHost.objects.create(
        environment=environment,
        role=parsed["role"],
        host=parsed["host"],
        port=parsed["port"],
        username=parsed["username"],
        private_key=crypto.encrypt(parsed["private_key"]) if parsed["private_key"] else "",
        password=crypto.encrypt(parsed["password"]) if parsed["password"] else "",
        position=position,
    )


# --- Services ---------------------------------------------------------------------


def environment_create(
    *,
    service_name: str,
    name: str,
    base_url: str,
    allowed_hosts: list[str] | None = None,
    variables: dict | None = None,
    secrets: dict[str, str] | None = None,
    ssh: dict | None = None,
    dns_servers: list[str] | None = None,
    team: str | None = None,
    position: int | None = None,
    actor,
    source: str,
) -> Environment:
    """Create an environment (and its service, if new), with its secrets encrypted.

    An existing service's environments are its team's admins' to create; a new service goes to `team`
    (a slug), whose admin the actor must be. Only a site admin creates a service that belongs to no team.
    """
    service_name = _text(service_name, "service", 200)
    name = _text(name, "name", 100)
    base_url = _base_url(base_url)
    allowed_hosts = _allowed_hosts(allowed_hosts or [])
    variables = _variables(variables or {})
    secrets = {_secret_name(key): _secret_value(key, value) for key, value in (secrets or {}).items()}
    ssh_hosts = _ssh_hosts(ssh)
    for host in ssh_hosts:
        _ssh_host_check(host["host"], base_url, allowed_hosts)
    dns_servers = _dns_servers(dns_servers or [], environment_hosts(base_url, allowed_hosts))
    position = environment_position_default(name) if position is None else _position(position)

    owner = _service_owner(service_name, team, actor)
    with transaction.atomic():
        service, _ = Service.objects.get_or_create(name=service_name, defaults={"team": owner})
        if Environment.objects.filter(service=service, name=name).exists():
            raise Conflict(f"{service_name} already has an environment named `{name}`; choose another name.")
        try:
            with transaction.atomic():
                environment = Environment.objects.create(
                    service=service,
                    name=name,
                    base_url=base_url,
                    allowed_hosts=allowed_hosts,
                    variables=variables,
                    dns_servers=dns_servers,
                    position=position,
                )
        except IntegrityError:
            raise Conflict(f"{service_name} already has an environment named `{name}`; choose another name.") from None
        for secret_name, value in secrets.items():
            _secret_store(environment, secret_name, value)
        stored = [_ssh_host_store(environment, host, position=n) for n, host in enumerate(ssh_hosts)]
        event_append(
            kind=Event.Kind.ENVIRONMENT,
            source=source,
            actor=actor,
            environment=environment,
            after="created",
            note=f"Created environment {service_name} / {name} at {base_url}.",
            data={
                "base_url": base_url,
                "allowed_hosts": allowed_hosts,
                "variables": sorted(variables),
                "secrets": sorted(secrets),
                "ssh_hosts": [{"host": h.label, "role": h.role} for h in stored],
                "dns_servers": dns_servers,
            },
        )
        for ssh_host, host in zip(stored, ssh_hosts):
            if host["host_key"]:
                host_key_trust(environment=environment, ssh_host=ssh_host, host_key=host["host_key"], actor=actor, source=source)
    return environment


def _service_owner(service_name: str, team: str | None, actor) -> Team | None:
    """The team a new service goes to, once `actor` may create environments of `service_name`."""
    team = (team or "").strip()
    service = Service.objects.select_related("team").filter(name=service_name).first()
    if service is not None:
        roles.require(actor, "manage", team=service.team_id)
        if team and (service.team is None or service.team.slug != team):
            owner = f"team `{service.team.slug}`" if service.team else "no team"
            raise InvalidInput(f"{service_name} belongs to {owner}, not `{excerpt(team)}`; leave `team` out for an existing service.")
        return service.team
    if not team:
        if not roles.can(actor, "manage", team=None):
            raise Forbidden(
                f"Say which team owns the new service {service_name} (`team`: its slug); "
                "only a site admin may create a service that belongs to no team."
            )
        return None
    owner = Team.objects.filter(slug=team).first()
    if owner is None:
        raise InvalidInput(f"There is no team `{excerpt(team)}`; see /teams/ for their slugs.")
    if not roles.can(actor, "manage", team=owner):
        raise Forbidden(f"Only an admin of {owner.name} (or a site admin) may create a service for it.")
    return owner


def service_team_set(*, service: Service, team: Team | None, actor, source: str) -> Service:
    """Give a service to another team (or to none: then only site-wide roles reach it). Site admins only."""
    if not roles.can(actor, "manage", team=None):
        raise Forbidden("Only a site admin moves a service to another team.")
    with transaction.atomic():
        service = Service.objects.select_for_update(of=("self",)).select_related("team").get(pk=service.pk)
        before = service.team
        if before == team:
            return service
        service.team = team
        service.save(update_fields=["team"])
        event_append(
            kind=Event.Kind.TEAM, source=source, actor=actor,
            before=before.slug if before else "", after=team.slug if team else "",
            note=f"{service.name} moved from {before.name if before else 'no team'} to {team.name if team else 'no team'}.",
            data={"team": team.slug if team else "", "from": before.slug if before else "", "service": service.name},
        )
    return service


def environment_update(
    *,
    environment: Environment,
    base_url: str | None = None,
    allowed_hosts: list[str] | None = None,
    variables: dict | None = None,
    secrets: dict[str, str] | None = None,
    dns_servers: list[str] | None = None,
    position: int | None = None,
    actor,
    source: str,
) -> Environment:
    """Change what is given (None leaves a field as it is); records one event naming what changed.

    SSH hosts are added and removed on their own (`ssh_host_add`, `ssh_host_remove`)."""
    roles.require(actor, "manage", team=environment.owner_team_id)
    changes: dict = {}
    if base_url is not None:
        changes["base_url"] = _base_url(base_url)
    if allowed_hosts is not None:
        changes["allowed_hosts"] = _allowed_hosts(allowed_hosts)
    if variables is not None:
        changes["variables"] = _variables(variables)
    if position is not None:
        changes["position"] = _position(position)
    new_secrets = {_secret_name(key): _secret_value(key, value) for key, value in (secrets or {}).items()}

    with transaction.atomic():
        environment = Environment.objects.select_for_update(of=("self",)).select_related("service").get(pk=environment.pk)
        changed = [field for field, value in changes.items() if getattr(environment, field) != value]
        for field in changed:
            setattr(environment, field, changes[field])
        for ssh_host in environment.ssh_hosts.all():
            _ssh_host_check(ssh_host.host, environment.base_url, environment.allowed_hosts or [])
        hosts = environment_hosts(environment.base_url, environment.allowed_hosts or [])
        servers = _dns_servers(environment.dns_servers if dns_servers is None else dns_servers, hosts)
        if servers != environment.dns_servers:
            environment.dns_servers = servers
            changed.append("dns_servers")
        if changed:
            environment.save(update_fields=changed)
        for secret_name, value in new_secrets.items():
            _secret_store(environment, secret_name, value)
        if changed or new_secrets:
            event_append(
                kind=Event.Kind.ENVIRONMENT,
                source=source,
                actor=actor,
                environment=environment,
                after="updated",
                note=f"Changed {', '.join(changed + [f'secret {name}' for name in sorted(new_secrets)])}.",
                data={"fields": changed, "secrets": sorted(new_secrets)},
            )
    return environment


def _secret_store(environment: Environment, name: str, value: str) -> None:
    EnvironmentSecret.objects.update_or_create(
        environment=environment, name=name, defaults={"ciphertext": crypto.encrypt(value)}
    )


def secret_set(*, environment: Environment, name: str, value: str, actor, source: str) -> None:
    """Store (or replace) one secret, encrypted.  The event names the secret, never its value."""
    roles.require(actor, "manage", team=environment.owner_team_id)
    name = _secret_name(name)
    value = _secret_value(name, value)
    with transaction.atomic():
        existed = EnvironmentSecret.objects.filter(environment=environment, name=name).exists()
        _secret_store(environment, name, value)
        event_append(
            kind=Event.Kind.ENVIRONMENT,
            source=source,
            actor=actor,
            environment=environment,
            after="secret replaced" if existed else "secret set",
            note=f"Secret `{name}` {'replaced' if existed else 'set'}.",
            data={"secret": name},
        )


def environment_secrets(environment: Environment) -> dict[str, str]:
    """The environment's secrets, decrypted: for the probe runner only, never for display."""
    values = {}
    for secret in EnvironmentSecret.objects.filter(environment_id=environment.pk):
        try:
            values[secret.name] = crypto.decrypt(secret.ciphertext)
        except crypto.SecretUnreadable:
            logger.warning(
                "Secret %s of environment %s cannot be decrypted with CTRLREADY_SECRET_KEYS; probes that "
                "need it report not configured.",
                secret.name,
                environment.pk,
            )
    return values


def secrets_rotate() -> int:
    """Re-encrypt every readable secret with the first key of CTRLREADY_SECRET_KEYS; returns how many.

    The other apps' secrets too: `CTRLREADY_SECRET_ROTATORS` names their functions (dotted paths, so
    checklists imports none of them), each returning how many it re-encrypted.
    """
    rotated = 0
    for secret in EnvironmentSecret.objects.all().iterator():
        try:
            ciphertext = crypto.rotate(secret.ciphertext)
        except crypto.SecretUnreadable:
            logger.warning("Secret %s of environment %s cannot be decrypted; left as it is.", secret.name, secret.environment_id)
            continue
        EnvironmentSecret.objects.filter(pk=secret.pk).update(ciphertext=ciphertext)
        rotated += 1
    for ssh_host in SSHHost.objects.exclude(private_key="", password="").iterator():
        try:
            fields = {name: crypto.rotate(getattr(ssh_host, name)) for name in ("private_key", "password") if getattr(ssh_host, name)}
        except crypto.SecretUnreadable:
            logger.warning("The SSH credentials of host %s cannot be decrypted; left as they are.", ssh_host.pk)
            continue
        SSHHost.objects.filter(pk=ssh_host.pk).update(**fields)
        rotated += len(fields)
    for path in getattr(settings, "CTRLREADY_SECRET_ROTATORS", ()):
        rotated += import_string(path)()
    return rotated


def host_key_trust(
    *, environment: Environment, host_key: str, actor, source: str, ssh_host: SSHHost | None = None
) -> SSHHost:
    """Pin the host key probes must see on one SSH host (the only one when not named); an admin's recorded action."""
    roles.require(actor, "manage", team=environment.owner_team_id)
    key, fingerprint = host_key_parse(host_key)
    with transaction.atomic():
        hosts = SSHHost.objects.select_for_update().filter(environment=environment)
        if ssh_host is not None:
            hosts = hosts.filter(pk=ssh_host.pk)
        hosts = list(hosts[:2])
        if not hosts:
            raise InvalidInput("Add the SSH host first, then trust its key.")
        if len(hosts) > 1:
            raise InvalidInput("This environment has several SSH hosts: say which one's key to trust.")
        ssh_host = hosts[0]
        previous = host_key_fingerprint(ssh_host.host_key)
        ssh_host.host_key = key
        ssh_host.save(update_fields=["host_key"])
        event_append(
            kind=Event.Kind.HOST_KEY_TRUSTED,
            source=source,
            actor=actor,
            environment=environment,
            before=previous,
            after=fingerprint,
            note=f"Trusted SSH host key {fingerprint} for {ssh_host.label}.",
            data={"fingerprint": fingerprint, "previous": previous, "key_type": key.split()[0], "ssh_host": ssh_host.label},
        )
    return ssh_host
