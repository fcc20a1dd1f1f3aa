"""The task queue, as the apps see it: is it reachable, and send a task by its name.

Tasks are sent by name, so a service never imports the module that defines a task (and the
module that defines it can import the service).
"""

import time

from celery import current_app

#: After a publish fails, what can wait for a later pass (`task_offer`) skips the broker in this process
#: for this long: while Redis is down only one request in that time waits for the connection timeout.
QUIET_SECONDS = 30.0
_failed_at: float | None = None  # when this process's last publish failed (time.monotonic), None once one works


def broker_reachable(timeout: float = 2.0) -> bool:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False


def task_send(name: str, *, args: tuple = (), **options) -> None:
    """Publish task `name`; raises if the broker cannot be reached."""
    global _failed_at
    try:
        current_app.send_task(name, args=args, **options)
    except Exception:
        _failed_at = time.monotonic()
        raise
    _failed_at = None


def task_offer(name: str, *, args: tuple = (), **options) -> bool:
    """Publish task `name`, unless a publish failed in this process less than QUIET_SECONDS ago.

    For work that something picks up later anyway when it is not sent now (a delivery: the sweep; a new
    deployment's first runs: the next re-check), sent after a person's change has committed: it must not
    make each of their requests wait for the broker's timeout while the broker is down. Returns whether
    it was sent; raises, as `task_send` does, when it tried and the broker could not be reached.
    """
    if _failed_at is not None and time.monotonic() - _failed_at < QUIET_SECONDS:
        return False
    task_send(name, args=args, **options)
    return True
