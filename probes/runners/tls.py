"""``tls`` probes: the certificate a host presents, checked against the system CAs (and ``ca_bundle``)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from checklists.conditions import Condition
from probes.runners.base import ProbeFailure, describe_error
from probes.runners.context import NetworkContext


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    host = spec.get("host") or ctx.target.base_host
    port = spec.get("port") or 443
    address = await ctx.resolve(host, port, timeout)

    notes: list[str] = []
    valid = True
    try:
        der, version = await _handshake(host, address, port, ctx.ssl_context(), timeout)
    except ssl.SSLCertVerificationError as exc:
        valid = False
        notes.append(f"The certificate is not valid: {exc.verify_message or exc.reason}.")
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        der, version = await _handshake(host, address, port, unverified, timeout)

    cert = x509.load_der_x509_certificate(der)
    days_left = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() // 86400
    observed = {
        "CERT_VALID": valid,
        "CERT_DAYS_LEFT": int(days_left),
        "CERT_SANS": subject_alt_names(cert),
        "CERT_ISSUER": issuer_name(cert),
        "TLS_VERSION": version,
    }
    return observed, notes


async def _handshake(host: str, address: str, port: int, context: ssl.SSLContext, timeout: float) -> tuple[bytes, str]:
    """The handshake goes to the address the host was checked at; the certificate is checked against the name."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host, ssl_handshake_timeout=timeout
            )
    except ssl.SSLCertVerificationError:
        raise
    except (OSError, TimeoutError) as exc:
        raise ProbeFailure(describe_error(exc, host=host, port=port, timeout=timeout)) from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        version = ssl_object.version() or ""
    finally:
        writer.transport.abort()
    if not der:
        raise ProbeFailure(f"{host}:{port} presented no certificate.")
    return der, version


def subject_alt_names(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    names = [str(name) for name in extension.get_values_for_type(x509.DNSName)]
    names += [str(address) for address in extension.get_values_for_type(x509.IPAddress)]
    return names


def issuer_name(cert: x509.Certificate) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = cert.issuer.get_attributes_for_oid(oid)
        if attributes:
            return str(attributes[0].value)
    return cert.issuer.rfc4514_string()
