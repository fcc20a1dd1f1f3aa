"""Riding out a database restart: a write that fails because the connection broke is tried again."""

import logging
import time
from collections.abc import Callable
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
