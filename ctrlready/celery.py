import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ctrlready.settings")

app = Celery("ctrlready")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender, **kwargs):
    """The broker that needs no server keeps its messages in folders, which must exist."""
    if str(sender.conf.broker_url).startswith("filesystem://"):
        from pathlib import Path

        for key in ("data_folder_in", "processed_folder", "control_folder"):
            folder = (sender.conf.broker_transport_options or {}).get(key)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _check_visibility_timeout(sender, **kwargs):
    """A hard time limit at or above Redis's visibility timeout would run long tasks twice."""
    from django.conf import settings

    visibility = (sender.conf.broker_transport_options or {}).get("visibility_timeout")
    if visibility is not None and visibility <= settings.CTRLREADY_MAX_TASK_SECONDS:
        raise RuntimeError(
            f"Redis visibility_timeout ({visibility}s) must be above the longest probe task "
            f"({settings.CTRLREADY_MAX_TASK_SECONDS}s), or long tasks run twice."
        )
