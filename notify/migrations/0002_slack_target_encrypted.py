"""A Slack incoming-webhook URL is a credential: kept encrypted, with only its scheme and host in clear.

Encrypting the URLs already stored needs CTRLREADY_SECRET_KEYS, as set where ctrlready runs; an
installation with no Slack subscription migrates without them.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models

from core import crypto
from notify.models import url_shown


def _keys_checked(count: int, direction: str) -> None:
    try:
        crypto.fernet()
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            f"{count} Slack subscription(s) need CTRLREADY_SECRET_KEYS to {direction} their incoming-webhook "
            "URL: set it to the keys ctrlready runs with, then migrate again."
        ) from None


def slack_targets_encrypt(apps, schema_editor):
    Subscription = apps.get_model("notify", "Subscription")
    rows = list(Subscription.objects.filter(channel="slack", target_encrypted=""))
    if not rows:
        return
    _keys_checked(len(rows), "encrypt")
    for row in rows:
        row.target_encrypted, row.target = crypto.encrypt(row.target), url_shown(row.target)
        row.save(update_fields=["target", "target_encrypted"])


def slack_targets_decrypt(apps, schema_editor):
    Subscription = apps.get_model("notify", "Subscription")
    rows = list(Subscription.objects.filter(channel="slack").exclude(target_encrypted=""))
    if not rows:
        return
    _keys_checked(len(rows), "decrypt")
    for row in rows:
        row.target, row.target_encrypted = crypto.decrypt(row.target_encrypted), ""
        row.save(update_fields=["target", "target_encrypted"])


class Migration(migrations.Migration):

    dependencies = [
        ("notify", "0001_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="target_encrypted",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(slack_targets_encrypt, slack_targets_decrypt),
    ]
