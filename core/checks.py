"""System checks: `python manage.py check --deploy` warns about production settings that are missing."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_keys_set(app_configs, **kwargs):
    if settings.CTRLREADY_SECRET_KEYS:
        return []
    return [
        Warning(
            "CTRLREADY_SECRET_KEYS is empty, so environment secrets cannot be stored encrypted.",
            hint="Set it to one or more Fernet keys, comma-separated, newest first: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            id="ctrlready.W001",
        )
    ]


@register(Tags.security)
def secret_keys_valid(app_configs, **kwargs):
    errors = []
    for position, key in enumerate(settings.CTRLREADY_SECRET_KEYS, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"Key {position} of CTRLREADY_SECRET_KEYS is not a Fernet key.",
                    hint="A Fernet key is 32 bytes in url-safe base64 (44 characters); generate one with "
                    "cryptography's Fernet.generate_key().",
                    id="ctrlready.E001",
                )
            )
    return errors
