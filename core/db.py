"""Database helpers Django does not have: riding out a restart, row locks in share mode, many rows saved at once."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
T = TypeVar("T")


def db_retry(write: Callable[[], T], *, seconds: float = 30.0, wait: float = 0.5) -> T:
    """Call `write` (one idempotent transaction); while the database is unreachable, reconnect and call it again.

    For work that must not be lost when PostgreSQL restarts under a running task — a probe batch's
    results, say — and that is safe to repeat (it writes nothing twice). Gives up after `seconds`.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + wait > deadline:
                raise
            log.warning("the database is unreachable; trying again", exc_info=True)
            connection.close()
            time.sleep(wait)


@contextmanager
def share_locks() -> Iterator[None]:
    """Within this block, `select_for_update()` takes its row locks `FOR SHARE` instead of `FOR UPDATE`.

    Django has no share mode. A share lock lets many transactions hold a row at once while keeping out
    any that wants it `FOR UPDATE` (or to change it), and waits for such a holder to finish. Only the
    lock clause at the end of each statement changes; on a database without row locks nothing does.
    """

    def share(execute, sql, params, many, context):
        at = sql.rfind(" FOR UPDATE")
        if at >= 0:
            sql = sql[:at] + " FOR SHARE" + sql[at + len(" FOR UPDATE") :]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(share):
        yield


def rows_save(rows: list, fields: list[str]) -> None:
    """Write many loaded rows in one statement.

    `bulk_update` compiles a CASE expression per row and field, which costs seconds for a
    batch of a few hundred rows; an upsert on the primary key writes the same in one fast statement.
    The rows are locked by the caller, so the insert branch is never taken.
    """
    if rows:
        type(rows[0]).objects.bulk_create(rows, update_conflicts=True, unique_fields=["id"], update_fields=fields)
