"""SSH host keys, read and fingerprinted by paramiko: the one place a key's text is understood.

Pure Python (paramiko only, no Django): the environment rules use it to validate a key an admin
trusts, the ssh runner to compare the key a host presents with the pinned one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import paramiko

ASK_FOR_KEY = (
    "must be an OpenSSH public host key like `ssh-ed25519 AAAAC3Nza…` "
    "(get it with `ssh-keyscan -t ed25519 <host>`)"
)


class HostKeyError(ValueError):
    """The text is not a host key; the message says what to give instead."""


@dataclass(frozen=True)
class HostKey:
    key: paramiko.PKey

    @property
    def line(self) -> str:
        """`type base64`, as stored and compared."""
        return f"{self.key.get_name()} {self.key.get_base64()}"

    @property
    def key_type(self) -> str:
        return self.key.get_name()

    @property
    def fingerprint(self) -> str:
        """`SHA256:…`, as `ssh-keygen -lf` shows it."""
        return self.key.fingerprint


def host_key_parse(text: str, *, field: str = "host_key") -> HostKey:
    """A public host key from `type base64 [comment]` or a known_hosts line (`host type base64`)."""
    fields = (text or "").split()
    if len(fields) >= 3 and not _looks_like_type(fields[0]):
        entry = None
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(" ".join(fields[:3]))
        except Exception:  # paramiko raises InvalidHostKey, SSHException, binascii.Error …
            entry = None
        if entry is None or entry.key is None:
            raise HostKeyError(f"`{field}` {ASK_FOR_KEY}.")
        return HostKey(entry.key)
    if len(fields) < 2:
        raise HostKeyError(f"`{field}` {ASK_FOR_KEY}.")
    key_type, blob = fields[0], fields[1]
    try:
        return HostKey(paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True)))
    except paramiko.UnknownKeyType:
        raise HostKeyError(f"`{field}` {ASK_FOR_KEY}; `{key_type[:40]}` is not a key type paramiko knows.") from None
    except Exception:
        raise HostKeyError(f"`{field}` is not a valid {key_type[:40]} key: its base64 part does not decode to one.") from None


def _looks_like_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-", "sk-"))


def host_key_of(key: paramiko.PKey) -> HostKey:
    return HostKey(key)
