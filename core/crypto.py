"""Encryption at rest for environment secrets, with keys that rotate.

`CTRLREADY_SECRET_KEYS` is a list of Fernet keys: the first encrypts, every one decrypts.
To rotate, put a new key first, keep the old ones after it, and run `secrets_rotate()`.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys can decrypt."""


def _debug_key(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode("utf-8")).digest())


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str, debug: bool) -> MultiFernet:
    if not keys:
        if not debug:
            raise ImproperlyConfigured(
                "CTRLREADY_SECRET_KEYS is empty: set it to a Fernet key (make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
            )
        return MultiFernet([Fernet(_debug_key(secret_key))])
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii") if isinstance(key, str) else key))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise ImproperlyConfigured(
                f"Key {position} of CTRLREADY_SECRET_KEYS is not a Fernet key (32 bytes, url-safe base64)."
            ) from None
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CTRLREADY_SECRET_KEYS), settings.SECRET_KEY, bool(settings.DEBUG))


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with CTRLREADY_SECRET_KEYS; put back the key it was "
            "encrypted with, or set the secret again."
        ) from None


def rotate(token: str) -> str:
    """The same secret, encrypted with the first key."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable("A stored secret cannot be decrypted with CTRLREADY_SECRET_KEYS.") from None
