"""What every runner shares: the target, the observation, templating, redaction, the host check.

Pure Python: no Django, no ORM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from checklists.conditions import Condition, ConditionResult, jsonable
from checklists.hosts import environment_hosts
from checklists.hosts import host_normal as _normal_host
from core.addresses import is_address
from probes.runners.redaction import REDACTED, Redactor

__all__ = [
    "REDACTED",
    "HostNotAllowed",
    "NotConfigured",
    "Observation",
    "ProbeFailure",
    "SSHTarget",
    "Target",
    "check_host",
    "conclude",
    "describe_error",
    "redact",
    "render",
]

#: Each observed placeholder value is cut to about this many characters.
MAX_OBSERVED_CHARS = 2000

_EMPTY: Mapping[str, str] = MappingProxyType({})
_TEMPLATE = re.compile(r"\{\{\s*(vars|secrets|deployment|environment|service)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: What ``{{ deployment.X }}``, ``{{ environment.X }}`` and ``{{ service.X }}`` may name.
CONTEXT_FIELDS = ("deployment.release", "environment.name", "service.name")


@dataclass(frozen=True)
class SSHTarget:
    host: str
    port: int = 22
    username: str = "root"
    private_key: str | None = None
    password: str | None = None
    #: The pinned host key in OpenSSH form, ``"ssh-ed25519 AAAA..."``; ``None`` until an admin trusts one.
    host_key: str | None = None
    #: What the host is to the service (`web`, `worker`); `hosts:` in a probe picks hosts by it.
    role: str = ""

    @property
    def label(self) -> str:
        return self.host if self.port == 22 else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """The environment a probe runs against."""

    base_url: str
    allowed_hosts: tuple[str, ...] = ()
    variables: Mapping[str, str] = _EMPTY
    secrets: Mapping[str, str] = _EMPTY
    #: The environment's SSH hosts: one SSHTarget, or a tuple of them (each with a role).
    ssh: SSHTarget | tuple[SSHTarget, ...] | None = None
    #: Extra trusted CA certificates (PEM text) on top of the system ones, for TLS checks and https probes.
    ca_bundle: str | None = None
    #: DNS servers for ``dns`` probes as ``"ip"`` or ``"ip:port"``; empty means the system's resolvers.
    dns_servers: tuple[str, ...] = ()
    #: ``{"deployment.release": "v1.4.2", "environment.name": …, "service.name": …}`` for templates.
    context: Mapping[str, str] = _EMPTY

    @property
    def ssh_hosts(self) -> tuple[SSHTarget, ...]:
        if self.ssh is None:
            return ()
        return (self.ssh,) if isinstance(self.ssh, SSHTarget) else tuple(self.ssh)

    @property
    def base_host(self) -> str:
        return _normal_host(urlsplit(self.base_url).hostname or "")

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts a probe may reach: the base URL host first, then the allowed hosts."""
        return environment_hosts(self.base_url, self.allowed_hosts)

    def secret_values(self) -> list[str]:
        values = [value for value in self.secrets.values() if isinstance(value, str)]
        for ssh in self.ssh_hosts:
            values += [v for v in (ssh.private_key, ssh.password) if v]
        return values


@dataclass
class Observation:
    status: str  # "passed" | "failed" | "error" | "not_configured"
    message: str
    duration_ms: int = 0
    conditions: list[ConditionResult] = field(default_factory=list)
    observed: dict = field(default_factory=dict)
    #: How many times the probe ran; passed only on a retry = flaky.
    attempts: int = 1
    flaky: bool = False
    #: For ssh and host probes, each host's own result: {"host", "role", "status", "message", "conditions"}.
    hosts: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "message": self.message,
            "duration_ms": self.duration_ms,
            "conditions": [c.as_dict() for c in self.conditions],
            "observed": self.observed,
            "attempts": self.attempts,
            "flaky": self.flaky,
            "hosts": self.hosts,
        }


class ProbeFailure(Exception):
    """The probe could not observe anything; the message is for a person. Ends as ``error``."""


class HostNotAllowed(ProbeFailure):
    """A probe tried to reach a host outside its environment."""


class NotConfigured(Exception):
    """The environment lacks something the probe needs (a secret, an SSH target). Ends as ``not_configured``."""


# --- templating and redaction ------------------------------------------------


def render(spec: dict, target: Target) -> dict:
    """Fill ``{{ vars.X }}``, ``{{ secrets.X }}``, ``{{ deployment.release }}``, ``{{ environment.name }}`` and
    ``{{ service.name }}`` in every string of the spec. ``{{ saved.X }}`` is left for the step that saved it.

    Raises NotConfigured when a variable or secret is missing.
    """

    def fill(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2)
        if kind in ("deployment", "environment", "service"):
            field = f"{kind}.{name}"
            if field not in CONTEXT_FIELDS:
                raise NotConfigured(f"`{{{{ {field} }}}}` is not something a probe can use: use {', '.join(CONTEXT_FIELDS)}.")
            value = target.context.get(field)
            if value is None:
                raise NotConfigured(f"`{{{{ {field} }}}}` is not known where this probe runs.")
            return str(value)
        source = target.variables if kind == "vars" else target.secrets
        value = source.get(name)
        if value is None:
            word = "variable" if kind == "vars" else "secret"
            raise NotConfigured(f"The {word} `{name}` is not set for this environment.")
        return str(value)

    def walk(value: object) -> object:
        if isinstance(value, str):
            return _TEMPLATE.sub(fill, value) if "{{" in value else value
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(spec)


def redact(value: object, secrets: Mapping[str, str] | list[str] | tuple[str, ...] | Redactor) -> object:
    """Replace every secret (of 4 characters or more, and its encoded forms) with ``[redacted]``, anywhere in ``value``."""
    if not isinstance(secrets, Redactor):
        secrets = Redactor(secrets.values() if isinstance(secrets, Mapping) else secrets)
    return _redact(value, secrets) if secrets else value


def _redact(value: object, redactor: Redactor) -> object:
    if isinstance(value, ConditionResult):
        return ConditionResult(value.expr, value.ok, redactor(value.observed))
    if isinstance(value, Observation):
        return dataclasses.replace(
            value,
            message=redactor.text(value.message),
            conditions=[_redact(c, redactor) for c in value.conditions],
            observed=redactor(value.observed),
            hosts=redactor(value.hosts),
        )
    return redactor(value)


# --- hosts -------------------------------------------------------------------


def check_host(host: str, target: Target) -> str:
    """Refuse a host outside the environment; return it normalised. Runs before any connection."""
    normal = _normal_host(host)
    if not normal or normal not in target.hosts:
        shown = ", ".join(target.hosts) or "none"
        raise HostNotAllowed(
            f"The host `{host}` is not one of this environment's hosts ({shown}); "
            "add it to the allowed hosts to probe it."
        )
    return normal


async def resolve_host(
    host: str, port: int, timeout: float, cache: dict | None = None, *, resolver=None
) -> list[str]:
    """The addresses a host name resolves to; ProbeFailure when it resolves to nothing.

    ``resolver`` (a dnspython async resolver) asks the environment's DNS servers instead of the system's.
    """
    key = (host, port)
    if cache is not None and key in cache:
        result = cache[key]
        if isinstance(result, ProbeFailure):
            raise result
        return result
    try:
        async with asyncio.timeout(timeout):
            if resolver is not None and not is_address(host):
                addresses = await _ask(resolver, host, timeout)
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise socket.gaierror("no addresses")
    except (OSError, TimeoutError, LookupError):
        failure = ProbeFailure(f"The host `{host}` does not resolve to any address.")
        if cache is not None:
            cache[key] = failure
        raise failure from None
    if cache is not None:
        cache[key] = addresses
    return addresses



async def _ask(resolver, host: str, timeout: float) -> list[str]:
    import dns.exception
    import dns.resolver

    addresses: list[str] = []
    for record in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, record, lifetime=timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            raise LookupError(str(exc)) from None
        addresses += [rdata.address for rdata in answer]
    return addresses


# --- results -----------------------------------------------------------------


def seconds(value: float) -> str:
    """``2`` for 2.0, ``0.5`` for 0.5: how a timeout reads in a message."""
    return f"{value:g}"


def describe_error(exc: BaseException, *, host: str = "", port: int | None = None, timeout: float | None = None) -> str:
    """A sentence a person understands for an exception raised while probing."""
    where = f"{host}:{port}" if host and port else host or "the server"
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        # paramiko's NoValidConnectionsError keeps one error per address tried.
        inner = getattr(seen, "errors", None)
        if isinstance(inner, dict):
            chain.extend(e for e in inner.values() if isinstance(e, BaseException))
        seen = seen.__cause__ or seen.__context__
    for item in chain:
        if isinstance(item, ProbeFailure):
            return str(item)
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"The certificate is not valid: {item.verify_message or item.reason or item}."
    for item in chain:
        if isinstance(item, (TimeoutError, socket.timeout)) or type(item).__name__.endswith("Timeout"):
            return f"Timed out after {seconds(timeout)} s." if timeout else f"Timed out talking to {where}."
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or getattr(item, "errno", None) == errno.ECONNREFUSED:
            return f"Connection refused by {where}."
        if isinstance(item, socket.gaierror):
            return f"The host `{host or where}` does not resolve to any address."
        if isinstance(item, ConnectionResetError):
            return f"The connection to {where} was reset."
        if isinstance(item, ssl.SSLError):
            return f"The TLS handshake with {where} failed: {item.reason or item}."
        if getattr(item, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"{where} is unreachable from the probe worker."
    text = str(exc).strip() or type(exc).__name__
    if "connection refused" in text.lower():
        return f"Connection refused by {where}."
    return f"Could not reach {where}: {text.rstrip('.')}."


def conclude(
    conditions: list[Condition],
    exprs: list[str],
    observed: dict,
    *,
    notes: list[str] | None = None,
    redactor: Redactor | None = None,
) -> tuple[str, str, list[ConditionResult]]:
    """Evaluate the conditions; return status (passed/failed), the message and the results.

    ``exprs`` are the conditions as written (before templating), shown in results. Observed values are
    redacted by ``redactor`` before they are cut for the results and the message.
    """
    redact_value = redactor if redactor else None
    results = []
    for cond, expr in zip(conditions, exprs):
        result = cond.evaluate(observed, redact=redact_value)
        results.append(ConditionResult(expr, result.ok, result.observed))
    failed = [r for r in results if not r.ok]
    parts = list(notes or [])
    if not failed:
        count = len(results)
        status = "passed"
        parts.append(f"All {count} conditions held." if count != 1 else "The condition held.")
    else:
        status = "failed"
        shown = []
        for r in failed[:3]:
            seen = "nothing" if r.observed is None else _short_json(r.observed)
            shown.append(f"`{r.expr}` (saw {seen})")
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        if len(results) == 1:
            parts.append(f"The condition {shown[0]} did not hold.")
        else:
            parts.append(f"{len(failed)} of {len(results)} conditions did not hold: {', '.join(shown)}{more}.")
    return status, " ".join(parts), results


def observed_view(observed: dict, redactor: Redactor | None = None) -> dict:
    """What a run keeps of every placeholder's value: redacted first, then cut."""
    redact_value = redactor if redactor else None
    return {key: jsonable(value, MAX_OBSERVED_CHARS, redact=redact_value) for key, value in observed.items()}


def _short_json(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"
