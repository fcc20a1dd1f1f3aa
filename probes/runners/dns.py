"""``dns`` probes: what a name resolves to. The name queried is data; the DNS server is the system's
(or the environment's ``dns_servers``), so no host check applies."""

from __future__ import annotations

import dns.exception
import dns.rdatatype
import dns.resolver

from checklists.conditions import Condition
from probes.runners.base import ProbeFailure, seconds
from probes.runners.context import NetworkContext


def answer_text(rdata) -> str:
    kind = dns.rdatatype.to_text(rdata.rdtype)
    if kind in ("A", "AAAA"):
        return rdata.address
    if kind == "CNAME":
        return rdata.target.to_text(omit_final_dot=True)
    if kind == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if kind == "TXT":
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    return rdata.to_text()


def sorted_answers(answer) -> list[str]:
    """Answers in a stable order (a record set has none): MX by preference, the rest by text."""
    rdatas = list(answer)
    if rdatas and dns.rdatatype.to_text(rdatas[0].rdtype) == "MX":
        rdatas.sort(key=lambda r: (r.preference, r.exchange.to_text()))
        return [answer_text(r) for r in rdatas]
    return sorted(answer_text(r) for r in rdatas)


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    name, record = spec["name"], spec.get("record", "A")
    resolver = ctx.resolver()
    notes: list[str] = []
    try:
        answer = await resolver.resolve(name, record, lifetime=timeout, search=False)
        answers = sorted_answers(answer)
    except dns.resolver.NXDOMAIN:
        answers = []
        notes.append(f"The name `{name}` does not exist.")
    except dns.resolver.NoAnswer:
        answers = []
        notes.append(f"The name `{name}` has no {record} record.")
    except dns.exception.Timeout:
        raise ProbeFailure(f"Timed out after {seconds(timeout)} s.") from None
    except dns.resolver.NoNameservers:
        raise ProbeFailure(f"No DNS server gave an answer for `{name}` ({record}).") from None
    except (dns.exception.DNSException, OSError) as exc:
        raise ProbeFailure(f"The DNS lookup of `{name}` failed: {exc}") from None
    return {"ANSWERS": answers, "ANSWER": answers[0] if answers else None}, notes
