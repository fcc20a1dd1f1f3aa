import os
from pathlib import Path

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ctrlready.settings")

app = Celery("ctrlready")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender, **kwargs):
    """The broker that needs no server keeps its messages in folders, which must exist."""
    if str(sender.conf.broker_url).startswith("filesystem://"):
        for key in ("data_folder_in", "processed_folder", "control_folder"):
            folder = (sender.conf.broker_transport_options or {}).get(key)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)


def check_visibility_timeout(transport_options: dict | None, max_task_seconds: int) -> None:
    """A hard time limit at or above Redis's visibility timeout would run long tasks twice."""
    visibility = (transport_options or {}).get("visibility_timeout")
    if visibility is not None and visibility <= max_task_seconds:
        raise RuntimeError(
            f"Redis visibility_timeout ({visibility}s) must be above the longest probe task "
            f"({max_task_seconds}s), or long tasks run twice."
        )


@app.on_after_configure.connect
def _check_visibility_timeout(sender, **kwargs):
    check_visibility_timeout(sender.conf.broker_transport_options, settings.CTRLREADY_MAX_TASK_SECONDS)
