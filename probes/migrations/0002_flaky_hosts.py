from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("probes", "0001_initial")]

    operations = [
        migrations.AddField(model_name="proberun", name="flaky", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="proberun", name="hosts", field=models.JSONField(blank=True, default=list)),
    ]
