"""Which network addresses ctrlready may send to on someone's say-so (webhook and Slack targets).

Pure Python (no Django). A target is checked when it is connected to, after DNS: the name is resolved
once, every address it gives is checked, and the connection goes to the address that was checked — so a
name that points somewhere else a moment later (DNS rebinding) never reaches a private address.
"""

from __future__ import annotations

import ipaddress
import socket


class AddressRefused(Exception):
    """A target whose address ctrlready will not connect to; the message says why and what to do."""


def is_address(host: str) -> bool:
    """Whether `host` (as a URL carries it: an IPv6 address in brackets) is an IP address, not a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """The sentence refusing `address`, or None when it may be connected to.

    Loopback, private, link-local, shared and reserved ranges are refused unless `allow_private`;
    unspecified and multicast addresses always are.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"`{address[:100]}` is not an IP address."
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return f"The address {ip} cannot receive notifications."
    if not allow_private and not ip.is_global:
        return (
            f"The address {ip} is private or loopback; notifications go only to public addresses "
            "(CTRLREADY_WEBHOOK_ALLOW_PRIVATE allows others, for development)."
        )
    return None


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve `host` and check every address it gives; return the one to connect to.

    Raises AddressRefused when it resolves to nothing or to any address that is refused.
    """
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddressRefused(f"The host `{host[:100]}` does not resolve to any address.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise AddressRefused(f"The host `{host[:100]}` does not resolve to any address.")
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal:
            raise AddressRefused(f"`{host[:100]}` resolves to a refused address: {refusal}")
    return addresses[0]
