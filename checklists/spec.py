"""The probe annotation of a checklist item: validation and normalisation.

``validate_probe(data)`` takes the YAML mapping from a ``<!-- probe ... -->`` comment
and returns a plain, JSON-serialisable dict with every field of its type filled in,
or raises ProbeSpecError with one sentence that names the problem and what to do.

Pure Python: no Django.
"""

from __future__ import annotations

import math
import re

from checklists.conditions import Condition, ConditionError, parse_condition, parse_reference
from core.text import excerpt

__all__ = [
    "DNS_RECORDS",
    "HTTP_METHODS",
    "PLACEHOLDERS",
    "PROBE_TYPES",
    "PUSHED_TYPES",
    "ProbeSpecError",
    "host_resource",
    "probe_conditions",
    "validate_probe",
]

PROBE_TYPES = ("http", "tls", "dns", "tcp", "ssh", "load", "host", "postgres", "external")
#: What a `host` probe can look at, per kind of resource; the probe names exactly one resource.
HOST_RESOURCES: dict[str, tuple[str, ...]] = {
    "file": ("EXISTS", "MODE", "OWNER", "GROUP", "SIZE", "CONTENT", "JSON_VALID", "SHA256"),
    "service": ("RUNNING", "ENABLED"),
    "package": ("INSTALLED", "VERSION"),
    "port": ("LISTENING",),
    "process": ("COUNT", "USER"),
    "user": ("EXISTS", "UID", "SHELL", "GROUPS"),
}
#: Probe types that run over SSH, on the environment's hosts (`hosts:` picks them by role).
REMOTE_TYPES = ("ssh", "host")

#: What ``expect`` may look at, per probe type.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "http": ("STATUS", "BODY", "HEADER", "RESPONSE_TIME"),
    "tls": ("CERT_VALID", "CERT_DAYS_LEFT", "CERT_SANS", "CERT_ISSUER", "TLS_VERSION"),
    "dns": ("ANSWERS", "ANSWER"),
    "tcp": ("CONNECTED", "CONNECT_TIME"),
    "ssh": ("EXIT_STATUS", "STDOUT", "STDERR"),
    "load": ("SUCCESS_RATE", "ERRORS", "P50_MS", "P95_MS", "P99_MS"),
    "host": tuple(dict.fromkeys(p for names in HOST_RESOURCES.values() for p in names)),
    "postgres": ("ROW_COUNT", "ROWS", "VALUE", "CONNECT_TIME"),
    "external": ("DATA", "STATUS", "AGE_MINUTES"),
}
#: Probe types whose result is pushed (`POST deployments/<id>/results`), never run by a worker.
PUSHED_TYPES = ("external",)
#: Placeholders that hold a structure, so a path (``.name`` / ``[0]``) after them makes sense.
_PATH_PLACEHOLDERS = {"BODY", "HEADER", "ANSWERS", "CERT_SANS", "GROUPS", "ROWS", "DATA"}

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DNS_RECORDS = ("A", "AAAA", "CNAME", "MX", "TXT")

DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 300
MAX_LOAD_REQUESTS = 10_000
MAX_LOAD_CONCURRENCY = 200
DEFAULT_LOAD_REQUESTS = 100
DEFAULT_LOAD_CONCURRENCY = 100

_COMMON_FIELDS = ("type", "timeout", "retries", "retry_delay", "expect")
MAX_RETRIES = 5
MAX_RETRY_DELAY = 60
DEFAULT_RETRY_DELAY = 1
_FIELDS: dict[str, tuple[str, ...]] = {
    "http": ("request", "headers", "json", "body", "follow_redirects", "verify_tls", "steps", "auth"),
    "tls": ("host", "port"),
    "dns": ("name", "record"),
    "tcp": ("host", "port"),
    "ssh": ("run", "hosts"),
    "host": (*HOST_RESOURCES, "hosts"),
    "postgres": ("dsn", "query"),
    "external": (),
    "load": ("request", "requests", "concurrency", "headers", "json", "body", "verify_tls"),
}
_TEMPLATE_START = "{{"
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-:]+|\{\{.*\}\}.*)$")


class ProbeSpecError(ValueError):
    """A probe annotation that cannot be used; the message says what is wrong and what to do."""


def validate_probe(data: object) -> dict:
    """Check a probe annotation and return it normalised, with defaults filled in."""
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {_yaml_kind(data)}"
        raise ProbeSpecError(
            f"A probe must be a YAML mapping like `type: http` with its fields below it, not {kind}."
        )
    for key in data:
        if not isinstance(key, str):
            raise ProbeSpecError(f"The probe has a field named `{excerpt(repr(key))}`: field names must be words like `type`.")
    if "type" not in data:
        raise ProbeSpecError(f"The probe has no `type`: add one of {', '.join(PROBE_TYPES)}.")
    kind = data["type"]
    if not isinstance(kind, str) or kind not in PROBE_TYPES:
        shown = excerpt(kind) if isinstance(kind, (str, int, float, bool)) or kind is None else _yaml_kind(kind)
        raise ProbeSpecError(f"Unknown probe type `{shown}`: use one of {', '.join(PROBE_TYPES)}.")

    allowed = (*_COMMON_FIELDS[:1], *_FIELDS[kind], *_COMMON_FIELDS[1:])
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise ProbeSpecError(
            f"The {kind} probe has an unknown field `{excerpt(unknown[0])}`: use only {', '.join(allowed)}."
        )

    spec: dict = {"type": kind}
    spec.update(_VALIDATORS[kind](data))
    spec["timeout"] = _timeout(data)
    spec.update(_retries(data, kind))
    if "_expect" in spec:  # steps: each has its conditions; the probe's are all of them, in order
        spec["expect"] = spec.pop("_expect")
        if data.get("expect") not in (None, [], spec["expect"]):
            raise ProbeSpecError("The http probe has `steps` and `expect`: put each condition under its step.")
        return spec
    allowed_placeholders = HOST_RESOURCES[host_resource(spec)[0]] if kind == "host" else None
    spec["expect"] = _expect(data, kind, allowed_placeholders)
    return spec


def probe_conditions(spec: dict) -> list[Condition]:
    """The parsed conditions of a validated probe."""
    return [parse_condition(expr) for expr in spec["expect"]]


# --- per type ----------------------------------------------------------------


_STEP_FIELDS = ("request", "headers", "json", "body", "follow_redirects", "verify_tls", "expect", "save")
MAX_STEPS = 10


def _http(data: dict) -> dict:
    if "steps" in data:
        out = _steps(data)
    else:
        out = _one_request(data, "http")
    if data.get("auth") is not None:
        out["auth"] = _auth(data["auth"])
    return out


def _one_request(data: dict, kind: str) -> dict:
    method, target = _request(data, kind)
    out = {"request": f"{method} {target}", "headers": _headers(data, kind)}
    out.update(_payload(data, kind))
    out["follow_redirects"] = _bool(data, "follow_redirects", False, kind)
    out["verify_tls"] = _bool(data, "verify_tls", True, kind)
    return out


def _steps(data: dict) -> dict:
    """`steps:` — requests in order, each with its own `expect`, and `save` to pass a value to later steps."""
    steps = data["steps"]
    if not isinstance(steps, list) or not steps or len(steps) > MAX_STEPS:
        raise ProbeSpecError(f"The http probe's `steps` must be a list of 1 to {MAX_STEPS} requests, each with its `expect`.")
    clash = [field for field in ("request", "headers", "json", "body", "follow_redirects", "verify_tls") if field in data]
    if clash:
        raise ProbeSpecError(f"The http probe has `steps` and `{clash[0]}`: with steps, put `{clash[0]}` under the step it belongs to.")
    out_steps, saved, flattened = [], [], []
    for number, step in enumerate(steps, start=1):
        kind = f"http probe's step {number}"
        if not isinstance(step, dict):
            raise ProbeSpecError(f"The {kind} must be a mapping with `request` and `expect`.")
        unknown = [key for key in step if key not in _STEP_FIELDS]
        if unknown:
            raise ProbeSpecError(f"The {kind} has an unknown field `{unknown[0]}`: use only {', '.join(_STEP_FIELDS)}.")
        out = _one_request(step, kind)
        for name in re.findall(r"\{\{\s*saved\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", str(step)):
            if name not in saved:
                raise ProbeSpecError(f"The {kind} uses `{{{{ saved.{name} }}}}`, which no earlier step saves.")
        out["expect"] = _expect(step, "http") if step.get("expect") not in (None, []) else []
        save = step.get("save") or {}
        if not isinstance(save, dict):
            raise ProbeSpecError(f"The {kind}'s `save` maps names to placeholders, like `save: {{TOKEN: \"[BODY].access_token\"}}`.")
        for name, ref in save.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,49}", name):
                raise ProbeSpecError(f"The {kind} saves under `{name}`: use a name like `TOKEN`.")
            try:
                placeholder, _ = parse_reference(ref)
            except ConditionError as exc:
                raise ProbeSpecError(f"The {kind} cannot save `{name}`: {exc}") from None
            if placeholder not in PLACEHOLDERS["http"]:
                raise ProbeSpecError(f"The {kind} saves `{name}` from `[{placeholder}]`, which an http step cannot see.")
            saved.append(name)
        if save:
            out["save"] = {name: ref.strip() for name, ref in save.items()}
        flattened += out["expect"]
        out_steps.append(out)
    if not flattened:
        raise ProbeSpecError("The http probe's steps have no conditions: give at least one step an `expect`.")
    return {"steps": out_steps, "_expect": flattened}


def _auth(auth: object) -> dict:
    """`auth: {oauth2_client_credentials: {token_url, client_id, client_secret, scope}}`."""
    grant = auth.get("oauth2_client_credentials") if isinstance(auth, dict) and len(auth) == 1 else None
    if not isinstance(grant, dict):
        raise ProbeSpecError(
            "The http probe's `auth` takes `oauth2_client_credentials: {token_url, client_id, client_secret, scope}`."
        )
    unknown = [key for key in grant if key not in ("token_url", "client_id", "client_secret", "scope")]
    if unknown:
        raise ProbeSpecError(f"`oauth2_client_credentials` has an unknown field `{unknown[0]}`.")
    out = {}
    for field in ("token_url", "client_id", "client_secret"):
        out[field] = _text(grant, field, "http probe's oauth2_client_credentials", example=f"{field}: …")
    if not re.match(r"(https?://|/|\{\{)", out["token_url"]):
        raise ProbeSpecError("The `token_url` of `oauth2_client_credentials` must be an http(s) URL or a path like `/oauth/token`.")
    if grant.get("scope") is not None:
        out["scope"] = _text(grant, "scope", "http probe's oauth2_client_credentials", example="scope: read")
    return {"oauth2_client_credentials": out}


def _tls(data: dict) -> dict:
    return {"host": _host(data, "tls"), "port": _port(data, "tls", default=443)}


def _dns(data: dict) -> dict:
    name = _text(data, "name", "dns", example="name: api.example.com")
    record = data.get("record", DNS_RECORDS[0])
    if not isinstance(record, str) or record.upper() not in DNS_RECORDS:
        raise ProbeSpecError(f"The dns probe's `record` is `{excerpt(record)}`: use one of {', '.join(DNS_RECORDS)}.")
    return {"name": name, "record": record.upper()}


def _tcp(data: dict) -> dict:
    return {"host": _host(data, "tcp"), "port": _port(data, "tcp", default=None)}


def _ssh(data: dict) -> dict:
    out = {"run": _text(data, "run", "ssh", example='run: "systemctl is-active myapp"')}
    out.update(_hosts(data, "ssh"))
    return out


def _host_probe(data: dict) -> dict:
    named = [resource for resource in HOST_RESOURCES if resource in data]
    if len(named) != 1:
        raise ProbeSpecError(
            f"A host probe names exactly one resource ({', '.join(HOST_RESOURCES)}), like `file: /srv/app/.env`"
            + (f"; this one names {', '.join(named)}." if named else ".")
        )
    resource = named[0]
    value = data[resource]
    if resource == "port":
        if isinstance(value, bool) or not (
            (isinstance(value, int) and 1 <= value <= 65535)
            or (isinstance(value, str) and re.fullmatch(r"(tcp|udp|unix)://\S+", value.strip()))
        ):
            raise ProbeSpecError(
                "The host probe's `port` must be a port number like `port: 443`, or `tcp://0.0.0.0:443`, `udp://53`."
            )
        name = f"tcp://{value}" if isinstance(value, int) else value.strip()
    else:
        name = _text(data, resource, "host", example=f"{resource}: {_HOST_EXAMPLES[resource]}")
        if resource == "file" and not name.startswith(("/", "{{")):
            raise ProbeSpecError(f"The host probe's `file` is `{name[:80]}`: give an absolute path, like `/srv/app/.env`.")
    out = {resource: name}
    out.update(_hosts(data, "host"))
    return out


def host_resource(spec: dict) -> tuple[str, str]:
    """The resource a validated host probe names: `("file", "/srv/app/.env")`."""
    for resource in HOST_RESOURCES:
        if resource in spec:
            return resource, spec[resource]
    raise ProbeSpecError("A host probe names no resource.")


_HOST_EXAMPLES = {
    "file": "/srv/app/.env", "service": "nginx", "package": "openssl", "process": "gunicorn", "user": "app",
}


def _hosts(data: dict, kind: str) -> dict:
    """`hosts: web` or `hosts: [web, worker]`: the roles of the SSH hosts to run on (all when left out)."""
    value = data.get("hosts")
    if value is None:
        return {}
    roles = [value] if isinstance(value, str) else value
    if not isinstance(roles, list) or not roles or not all(
        isinstance(r, str) and re.fullmatch(r"[A-Za-z0-9_.\-]{1,50}", r) for r in roles
    ):
        raise ProbeSpecError(
            f"The {kind} probe's `hosts` names the roles of the SSH hosts to run on, like `hosts: web` "
            "or `hosts: [web, worker]`."
        )
    return {"hosts": list(dict.fromkeys(roles))}


def _retries(data: dict, kind: str) -> dict:
    """`retries` (0) and `retry_delay` (seconds): kept in the spec only when the probe retries."""
    retries = _int(data, "retries", 0, 0, MAX_RETRIES, kind)
    delay = data.get("retry_delay", DEFAULT_RETRY_DELAY)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) or not 0 <= delay <= MAX_RETRY_DELAY:
        raise ProbeSpecError(f"The {kind} probe's `retry_delay` is `{excerpt(delay)}`: use a number of seconds from 0 to {MAX_RETRY_DELAY}.")
    return {"retries": retries, "retry_delay": delay} if retries else {}


def _load(data: dict) -> dict:
    method, target = _request(data, "load")
    requests = _int(data, "requests", DEFAULT_LOAD_REQUESTS, 1, MAX_LOAD_REQUESTS, "load")
    default_concurrency = min(DEFAULT_LOAD_CONCURRENCY, requests)
    concurrency = _int(data, "concurrency", default_concurrency, 1, MAX_LOAD_CONCURRENCY, "load")
    if concurrency > requests:
        raise ProbeSpecError(
            f"The load probe's `concurrency` ({concurrency}) is larger than its `requests` ({requests}): "
            "lower the concurrency or send more requests."
        )
    out = {
        "request": f"{method} {target}",
        "requests": requests,
        "concurrency": concurrency,
        "headers": _headers(data, "load"),
    }
    out.update(_payload(data, "load"))
    out["verify_tls"] = _bool(data, "verify_tls", True, "load")
    return out


def _postgres(data: dict) -> dict:
    return {
        "dsn": _text(data, "dsn", "postgres", example="dsn: \"{{ secrets.DATABASE_URL }}\""),
        "query": _text(data, "query", "postgres", example="query: SELECT count(*) FROM django_migrations"),
    }


def _external(data: dict) -> dict:
    return {}


_VALIDATORS = {
    "http": _http, "tls": _tls, "dns": _dns, "tcp": _tcp, "ssh": _ssh, "load": _load, "host": _host_probe,
    "postgres": _postgres, "external": _external,
}


# --- fields ------------------------------------------------------------------


def _request(data: dict, kind: str) -> tuple[str, str]:
    raw = _text(data, "request", kind, example="request: GET /health")
    parts = raw.split(None, 1)
    if len(parts) != 2 or parts[0].upper() not in HTTP_METHODS:
        raise ProbeSpecError(
            f"The {kind} probe's `request` is `{excerpt(raw)}`: write a method and a path or URL, like `GET /health`."
        )
    method, target = parts[0].upper(), parts[1].strip()
    if " " in re.sub(r"\{\{.*?\}\}", "", target) or not (
        target.startswith("/") or re.match(r"https?://", target, re.I) or target.startswith(_TEMPLATE_START)
    ):
        raise ProbeSpecError(
            f"The {kind} probe's `request` target `{excerpt(target)}` is neither a path starting with `/` nor an "
            "http(s) URL: write it like `GET /health` or `GET https://api.example.com/health`."
        )
    return method, target


def _headers(data: dict, kind: str) -> dict:
    headers = data.get("headers", {})
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ProbeSpecError(
            f"The {kind} probe's `headers` must be a mapping of names to values, like `Authorization: Bearer x`."
        )
    out = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
            raise ProbeSpecError(f"The {kind} probe's header name `{excerpt(name)}` is not a valid HTTP header name.")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProbeSpecError(
                f"The {kind} probe's header `{excerpt(name)}` must have a text value; quote it if it is meant as text."
            )
        value = str(value)
        if "\n" in value or "\r" in value:
            raise ProbeSpecError(f"The {kind} probe's header `{excerpt(name)}` contains a line break: keep it on one line.")
        out[name] = value
    return out


def _payload(data: dict, kind: str) -> dict:
    if "json" in data and "body" in data:
        raise ProbeSpecError(f"The {kind} probe has both `json` and `body`: keep only one of them.")
    if "json" in data:
        _check_json(data["json"], kind)
        return {"json": data["json"]}
    if "body" in data:
        if not isinstance(data["body"], str):
            raise ProbeSpecError(
                f"The {kind} probe's `body` must be text; use `json` to send a structure."
            )
        return {"body": data["body"]}
    return {}


def _check_json(value: object, kind: str, depth: int = 0) -> None:
    if depth > 64:
        raise ProbeSpecError(f"The {kind} probe's `json` is nested too deeply; flatten it.")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProbeSpecError(f"The {kind} probe's `json` holds `{excerpt(value)}`, which JSON cannot carry; use a number.")
        return
    if isinstance(value, list):
        for item in value:
            _check_json(item, kind, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProbeSpecError(f"The {kind} probe's `json` has the key `{excerpt(key)}`: quote keys so they are text.")
            _check_json(item, kind, depth + 1)
        return
    raise ProbeSpecError(
        f"The {kind} probe's `json` holds a {_yaml_kind(value)}, which JSON cannot carry; quote it as text."
    )


def _bool(data: dict, field: str, default: bool, kind: str) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise ProbeSpecError(f"The {kind} probe's `{field}` must be true or false, not `{excerpt(value)}`.")
    return value


def _text(data: dict, field: str, kind: str, *, example: str) -> str:
    value = data.get(field)
    if value is None:
        raise ProbeSpecError(f"The {kind} probe needs `{field}`: add a line like `{example}`.")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProbeSpecError(f"The {kind} probe's `{field}` must be text, like `{example}`.")
    value = str(value).strip()
    if not value:
        raise ProbeSpecError(f"The {kind} probe's `{field}` is empty: fill it in, like `{example}`.")
    return value


def _host(data: dict, kind: str) -> str | None:
    """The host to probe, or None for the environment's base URL host."""
    value = data.get("host")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or not _HOST.match(value.strip()):
        raise ProbeSpecError(
            f"The {kind} probe's `host` `{excerpt(value)}` is not a host name or IP address; write it like "
            "`host: api.example.com`, or leave it out to use the environment's base URL host."
        )
    return value.strip()


def _port(data: dict, kind: str, *, default: int | None) -> int:
    if "port" not in data and default is not None:
        return default
    if "port" not in data:
        raise ProbeSpecError(f"The {kind} probe needs a `port`: add a line like `port: 5432`.")
    value = data["port"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ProbeSpecError(f"The {kind} probe's `port` is `{excerpt(value)}`: use a whole number from 1 to 65535.")
    return value


def _int(data: dict, field: str, default: int, low: int, high: int, kind: str) -> int:
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProbeSpecError(f"The {kind} probe's `{field}` is `{excerpt(value)}`: use a whole number from {low} to {high}.")
    return value


def _timeout(data: dict) -> int | float:
    value = data.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise ProbeSpecError(
            f"The probe's `timeout` is `{excerpt(value)}`: use a number of seconds above 0 and at most {MAX_TIMEOUT}."
        )
    return value


def _expect(data: dict, kind: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    example = f"[{allowed[0]}] == true" if kind == "host" else _EXAMPLES[kind]
    raw = data.get("expect")
    if kind == "external" and (raw is None or raw == []):
        raw = ['[STATUS] == "passed"']  # a pushed result stands on its own status unless told more
    if raw is None or raw == []:
        raise ProbeSpecError(
            f"The {kind} probe has no conditions: add an `expect` list with at least one, like `- \"{example}\"`."
        )
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ProbeSpecError(f"The probe's `expect` must be a list of conditions, like `- \"{example}\"`.")
    allowed = allowed or PLACEHOLDERS[kind]
    out = []
    for number, expr in enumerate(raw, start=1):
        if isinstance(expr, dict):
            # `- [STATUS] == 200` unquoted is read by YAML as a flow list; `- a: b` as a mapping.
            raise ProbeSpecError(
                f"Condition {number} under `expect` was read by YAML as a mapping: put the condition in quotes."
            )
        if not isinstance(expr, str):
            raise ProbeSpecError(
                f"Condition {number} under `expect` is not text (YAML read `{excerpt(expr)}`): put the condition in quotes, "
                f"like `- \"{example}\"`."
            )
        try:
            cond = parse_condition(expr)
        except ConditionError as exc:
            raise ProbeSpecError(f"Condition {number} under `expect` cannot be used. {exc}") from None
        for placeholder, path in cond.references():
            if placeholder not in allowed:
                raise ProbeSpecError(
                    f"Condition {number} under `expect` looks at `[{placeholder}]`, which a {kind} probe "
                    f"cannot see: use {', '.join(f'[{p}]' for p in allowed)}."
                )
            if path and placeholder not in _PATH_PLACEHOLDERS:
                raise ProbeSpecError(
                    f"Condition {number} under `expect` follows a path after `[{placeholder}]`, which is a "
                    "single value: compare it directly."
                )
        out.append(cond.expr)
    return out


_EXAMPLES = {
    "http": "[STATUS] == 200",
    "tls": "[CERT_DAYS_LEFT] > 14",
    "dns": "len([ANSWERS]) > 0",
    "tcp": "[CONNECTED] == true",
    "ssh": "[EXIT_STATUS] == 0",
    "load": "[P95_MS] < 500",
    "postgres": "[VALUE] == 0",
    "external": '[STATUS] == "passed"',
}


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__
