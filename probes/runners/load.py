"""``load`` probes: N requests at concurrency C through the batch's shared client."""

from __future__ import annotations

import asyncio
import math
import time

import httpx

from checklists.conditions import Condition
from probes.runners import http
from probes.runners.base import describe_error
from probes.runners.context import NetworkContext


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; ``None`` for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 1)


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    client = ctx.client(verify=spec.get("verify_tls", True))
    template = http.build_request(client, spec, ctx.target, timeout)
    await ctx.allow(template.url, timeout)

    total = spec.get("requests", 100)
    concurrency = min(spec.get("concurrency", 100), total)
    latencies: list[float] = []
    outcome = {"ok": 0, "errors": 0}
    first_error: list[str] = []
    tickets = iter(range(total))

    async def worker() -> None:
        for _ in tickets:
            request = http.build_request(client, spec, ctx.target, timeout)
            started = time.perf_counter()
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                outcome["errors"] += 1
                if not first_error:
                    first_error.append(
                        describe_error(exc, host=request.url.host, port=http.url_port(request.url), timeout=timeout)
                    )
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if 200 <= response.status_code < 400:
                outcome["ok"] += 1
            else:
                outcome["errors"] += 1

    async with ctx.load_lock:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())

    latencies.sort()
    observed = {
        "SUCCESS_RATE": round(outcome["ok"] / total, 4),
        "ERRORS": outcome["errors"],
        "P50_MS": percentile(latencies, 50),
        "P95_MS": percentile(latencies, 95),
        "P99_MS": percentile(latencies, 99),
    }
    notes = [f"{outcome['errors']} of {total} requests failed; the first: {first_error[0]}"] if first_error else []
    return observed, notes
