"""``postgres`` probes: one query, in a read-only transaction with a statement timeout.

The DSN's host is held to the environment's hosts and the connection goes to the address that was
checked (`hostaddr`), so a name that answers differently a moment later is never connected to.
"""

from __future__ import annotations

import datetime
import decimal
import time
import uuid

import psycopg
from psycopg.conninfo import conninfo_to_dict

from checklists.conditions import Condition
from probes.runners.base import ProbeFailure, seconds
from probes.runners.context import NetworkContext

#: Rows kept for `[ROWS]`; `[ROW_COUNT]` still counts them all.
MAX_ROWS = 100


async def run(spec: dict, conditions: list[Condition], ctx: NetworkContext, timeout: float) -> tuple[dict, list[str]]:
    try:
        params = conninfo_to_dict(spec["dsn"])
    except psycopg.ProgrammingError:
        raise ProbeFailure("The postgres probe's `dsn` is not a PostgreSQL connection string or URL.") from None
    host = params.get("host") or ""
    if not host or host.startswith("/") or "," in host:
        raise ProbeFailure("The postgres probe's `dsn` must name one TCP host (no socket path, no host list).")
    port = int(params.get("port") or 5432)
    address = await ctx.resolve(host, port, timeout)
    millis = max(1, int(timeout * 1000))
    params.update(
        hostaddr=address,
        connect_timeout=str(max(1, int(timeout))),
        options=f"-c default_transaction_read_only=on -c statement_timeout={millis}",
        application_name="ctrlready-probe",
    )
    params.setdefault("sslmode", "prefer")
    started = time.perf_counter()
    try:
        connection = await psycopg.AsyncConnection.connect(**params, autocommit=False)
    except psycopg.OperationalError as exc:
        raise ProbeFailure(f"Could not connect to PostgreSQL at {host}:{port}: {_first_line(exc)}.") from None
    connect_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        await connection.set_read_only(True)
        async with connection.cursor() as cursor:
            try:
                await cursor.execute(spec["query"])
                rows = await cursor.fetchall() if cursor.description else []
            except psycopg.errors.QueryCanceled:
                raise ProbeFailure(f"The query was cancelled after {seconds(timeout)} s (statement timeout).") from None
            except psycopg.Error as exc:
                raise ProbeFailure(f"PostgreSQL refused the query: {_first_line(exc)}.") from None
    finally:
        await connection.rollback()
        await connection.close()
    shown = [[_plain(value) for value in row] for row in rows[:MAX_ROWS]]
    observed = {
        "ROW_COUNT": len(rows),
        "ROWS": shown,
        "VALUE": shown[0][0] if shown and shown[0] else None,
        "CONNECT_TIME": connect_ms,
    }
    return observed, []


def _plain(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, datetime.timedelta)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
