"""Several SSH hosts per environment: the one SSH target each environment had becomes its first host,
its credentials moved from the `ssh_private_key` / `ssh_password` secrets into the host's own fields.
And the DNS servers an environment's probes resolve with."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    Environment = apps.get_model("checklists", "Environment")
    EnvironmentSecret = apps.get_model("checklists", "EnvironmentSecret")
    SSHHost = apps.get_model("checklists", "SSHHost")
    for environment in Environment.objects.exclude(ssh_host=""):
        secrets = {
            s.name: s for s in EnvironmentSecret.objects.filter(environment=environment, name__in=["ssh_private_key", "ssh_password"])
        }
        SSHHost.objects.create(
            environment=environment,
            host=environment.ssh_host,
            port=environment.ssh_port,
            username=environment.ssh_username,
            host_key=environment.ssh_host_key,
            private_key=secrets["ssh_private_key"].ciphertext if "ssh_private_key" in secrets else "",
            password=secrets["ssh_password"].ciphertext if "ssh_password" in secrets else "",
        )
        for secret in secrets.values():
            secret.delete()


class Migration(migrations.Migration):
    dependencies = [("checklists", "0003_waivers_and_descriptions")]

    operations = [
        migrations.CreateModel(
            name="SSHHost",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("role", models.CharField(blank=True, help_text="`web`, `worker`…: what `hosts:` in a probe names.", max_length=50)),
                ("host", models.CharField(max_length=255)),
                ("port", models.PositiveIntegerField(default=22)),
                ("username", models.CharField(max_length=100)),
                ("private_key", models.TextField(blank=True, help_text="Encrypted.")),
                ("password", models.TextField(blank=True, help_text="Encrypted.")),
                ("host_key", models.TextField(blank=True, help_text="The pinned host key, OpenSSH format.")),
                ("position", models.PositiveIntegerField(default=0)),
                ("environment", models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="ssh_hosts", to="checklists.environment")),
            ],
            options={"ordering": ["environment", "position", "id"]},
        ),
        migrations.AddConstraint(
            model_name="sshhost",
            constraint=models.UniqueConstraint(fields=("environment", "host", "port"), name="unique_ssh_host_per_environment"),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveField(model_name="environment", name="ssh_host"),
        migrations.RemoveField(model_name="environment", name="ssh_port"),
        migrations.RemoveField(model_name="environment", name="ssh_username"),
        migrations.RemoveField(model_name="environment", name="ssh_host_key"),
        migrations.AddField(
            model_name="environment",
            name="dns_servers",
            field=models.JSONField(
                blank=True, default=list, help_text="DNS servers probes resolve with (`ip` or `ip:port`); empty: the worker's."
            ),
        ),
    ]
