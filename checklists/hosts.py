"""The hosts an environment's probes may reach: its base URL host, then its allowed hosts.

Pure Python (no Django): the environment rules check an SSH host against it when it is saved and
before its key is fetched; the probe runners check it again when they connect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit


def host_normal(host: str) -> str:
    """`API.example.com.` → `api.example.com`; `[0:0::1]` → `::1`."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def environment_hosts(base_url: str, allowed_hosts: Iterable[str] = ()) -> tuple[str, ...]:
    """The base URL host first, then the allowed hosts, normalised, each once."""
    seen: list[str] = []
    for host in (urlsplit(base_url or "").hostname or "", *allowed_hosts):
        host = host_normal(host)
        if host and host not in seen:
            seen.append(host)
    return tuple(seen)


def ssh_host_refusal(host: str, hosts: Iterable[str]) -> str | None:
    """The one sentence every refusal of an SSH host says (saving, fetching its key, connecting), or None."""
    if host_normal(host) in tuple(hosts):
        return None
    return (
        f"The SSH host `{str(host)[:100]}` is not this environment's base URL host or one of its allowed hosts; "
        "add it to the allowed hosts first."
    )
