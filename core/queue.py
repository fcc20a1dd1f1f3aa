"""The task queue, as the apps see it: is it reachable, and send a task by its name.

Tasks are sent by name, so a service never imports the module that defines a task (and the
module that defines it can import the service).
"""

from celery import current_app


def broker_reachable(timeout: float = 2.0) -> bool:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False


def task_send(name: str, *, args: tuple = (), **options) -> None:
    """Publish task `name`; raises if the broker cannot be reached."""
    current_app.send_task(name, args=args, **options)
