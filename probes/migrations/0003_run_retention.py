from django.db import migrations, models

CHUNK = 5000


def mark_runs_that_changed_state(apps, schema_editor):
    """Runs recorded before this field existed: an item's `probe_result` event names the run that changed it."""
    Event = apps.get_model("core", "Event")
    ProbeRun = apps.get_model("probes", "ProbeRun")
    datas = Event.objects.filter(kind="probe_result").values_list("data", flat=True)
    run_ids = [data["run"] for data in datas.iterator(chunk_size=CHUNK) if isinstance(data, dict) and data.get("run")]
    for start in range(0, len(run_ids), CHUNK):
        ProbeRun.objects.filter(pk__in=run_ids[start : start + CHUNK]).update(changed_state=True)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("probes", "0002_flaky_hosts"),
    ]

    operations = [
        migrations.AddField(
            model_name="proberun",
            name="changed_state",
            field=models.BooleanField(
                default=False, help_text="This run changed its item's state: it is kept however old (see runs_prune)."
            ),
        ),
        migrations.RunPython(mark_runs_that_changed_state, migrations.RunPython.noop, elidable=True),
    ]
