"""``tcp`` probes: can a connection be opened? A refused or timed-out connection is a result, not an error."""

from __future__ import annotations

import asyncio
import time

from checklists.conditions import Condition
from probes.runners.base import describe_error
from probes.runners.context import NetworkContext


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    host = spec.get("host") or ctx.target.base_host
    port = spec["port"]
    addresses = [await ctx.resolve(host, port, timeout)]

    started = time.perf_counter()
    failure: BaseException | None = None
    try:
        async with asyncio.timeout(timeout):
            # Connect to the address the name was checked at, not to a fresh lookup of the name.
            for address in addresses:
                try:
                    _reader, writer = await asyncio.open_connection(address, port)
                except OSError as exc:
                    failure = exc
                    continue
                elapsed = round((time.perf_counter() - started) * 1000, 1)
                writer.close()
                return {"CONNECTED": True, "CONNECT_TIME": elapsed}, []
    except TimeoutError as exc:
        failure = exc
    note = describe_error(failure, host=host, port=port, timeout=timeout) if failure else ""
    return {"CONNECTED": False, "CONNECT_TIME": None}, [note] if note else []
