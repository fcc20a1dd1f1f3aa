"""``host`` probes: files, services, packages, ports, processes and users, asked by pytest-testinfra's
modules over our own SSH session (the pinned host key, one connection per host per batch).

testinfra knows how to ask a Linux host these questions across distributions; its modules only call
their backend's ``run``. The backend here runs each command on the batch's ``SSHSession`` — never
testinfra's own paramiko backend, which falls back to accepting unknown host keys.

Pure Python: no Django.
"""

from __future__ import annotations

import hashlib
import json
import time

import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from probes.runners.base import ProbeFailure, seconds
from probes.runners.ssh import SSHSession

#: Bytes of a file read for `[CONTENT]`, `[JSON_VALID]` and `[SHA256]` (a larger file is hashed remotely).
MAX_CONTENT_BYTES = 1024 * 1024


class SessionBackend(BaseBackend):
    """A testinfra backend that runs every command over one of our SSH sessions, within a deadline."""

    NAME = "ctrlready"

    def __init__(self, session: SSHSession, label: str) -> None:
        super().__init__(label)
        self.session = session
        self.deadline = time.monotonic() + 10
        self.timeout = 10.0

    def run(self, command: str, *args: str, **kwargs) -> CommandResult:
        command = self.get_command(command, *args)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeFailure(f"Timed out after {seconds(self.timeout)} s.")
        exit_status, stdout, stderr = self.session.exec(command, left)
        return self.result(exit_status, self.encode(command), stdout, stderr)


def host_of(session: SSHSession, label: str) -> testinfra.host.Host:
    backend = SessionBackend(session, label)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


def observe(host: testinfra.host.Host, resource: str, name: str, needed: set[str], timeout: float) -> dict:
    """What the host says about one resource: only the placeholders the conditions look at are asked."""
    backend: SessionBackend = host.backend
    backend.timeout = timeout
    backend.deadline = time.monotonic() + timeout
    try:
        return _OBSERVERS[resource](host, name, needed)
    except ProbeFailure:
        raise
    except (AssertionError, ValueError, NotImplementedError, RuntimeError) as exc:
        # testinfra's check_output asserts a zero exit status; a module may not know this system.
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ProbeFailure(f"The host could not tell the {resource} `{name}`: {reason}") from None


def _file(host, path: str, needed: set[str]) -> dict:
    file = host.file(path)
    if not file.exists:
        return {"EXISTS": False, **{key: None for key in needed if key != "EXISTS"}}
    observed: dict = {"EXISTS": True}
    if "MODE" in needed:
        observed["MODE"] = f"{file.mode:o}"
    if "OWNER" in needed:
        observed["OWNER"] = file.user
    if "GROUP" in needed:
        observed["GROUP"] = file.group
    if "SIZE" in needed:
        observed["SIZE"] = file.size
    if needed & {"CONTENT", "JSON_VALID", "SHA256"}:
        read = host.run("head -c %s -- %s", str(MAX_CONTENT_BYTES + 1), path)
        if read.rc != 0:
            raise ProbeFailure(f"The file `{path}` cannot be read by the SSH user: {read.stderr.strip()[:200]}")
        data = read.stdout_bytes
        whole = len(data) <= MAX_CONTENT_BYTES
        text = data[:MAX_CONTENT_BYTES].decode("utf-8", errors="replace")
        if "CONTENT" in needed:
            observed["CONTENT"] = text
        if "JSON_VALID" in needed:
            observed["JSON_VALID"] = whole and _is_json(text)
        if "SHA256" in needed:
            observed["SHA256"] = hashlib.sha256(data).hexdigest() if whole else file.sha256sum
    return observed


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _service(host, name: str, needed: set[str]) -> dict:
    service = host.service(name)
    observed = {}
    if "RUNNING" in needed:
        observed["RUNNING"] = bool(service.is_running)
    if "ENABLED" in needed:
        observed["ENABLED"] = bool(service.is_enabled)
    return observed


def _package(host, name: str, needed: set[str]) -> dict:
    package = host.package(name)
    installed = bool(package.is_installed)
    observed: dict = {"INSTALLED": installed}
    if "VERSION" in needed:
        observed["VERSION"] = package.version if installed else None
    return observed


def _port(host, name: str, needed: set[str]) -> dict:
    """`tcp://8000` (a port alone) listens on any address; `tcp://0.0.0.0:8000` on that one, as testinfra says."""
    protocol, _, rest = name.partition("://")
    if rest.isdigit():
        listening = host.socket.get_listening_sockets()
        return {"LISTENING": any(
            spec.startswith(f"{protocol}://") and spec.rsplit(":", 1)[-1] == rest for spec in listening
        )}
    return {"LISTENING": bool(host.socket(name).is_listening)}


def _process(host, name: str, needed: set[str]) -> dict:
    # testinfra's process module splits every line of `ps -A` on spaces and breaks on a host where
    # any command name has one (`tmux: server`); `ps -C` asks for just the processes named.
    listed = host.run("ps -C %s -o user=", name)
    if listed.rc not in (0, 1):
        raise ProbeFailure(f"The host could not list its processes: {listed.stderr.strip()[:200]}")
    users = listed.stdout.split()
    return {"COUNT": len(users), "USER": users[0] if users else None}


def _user(host, name: str, needed: set[str]) -> dict:
    user = host.user(name)
    if not user.exists:
        return {"EXISTS": False, "UID": None, "SHELL": None, "GROUPS": []}
    observed: dict = {"EXISTS": True}
    if "UID" in needed:
        observed["UID"] = user.uid
    if "SHELL" in needed:
        observed["SHELL"] = user.shell
    if "GROUPS" in needed:
        observed["GROUPS"] = list(user.groups)
    return observed


_OBSERVERS = {
    "file": _file, "service": _service, "package": _package, "port": _port, "process": _process, "user": _user,
}
