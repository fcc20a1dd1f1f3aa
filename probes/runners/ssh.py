"""``ssh`` probes: commands on the environment's SSH target, over one connection per batch.

The host key must match the environment's pinned key (``RejectPolicy``); an unknown or changed key
is an error, never accepted. Runs in one worker thread; the paramiko objects never cross threads.
"""

from __future__ import annotations

import io
import select
import socket
import time

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from checklists.hostkeys import HostKeyError, host_key_of, host_key_parse
from checklists.hosts import ssh_host_refusal
from probes.runners.base import NotConfigured, ProbeFailure, SSHTarget, describe_error, seconds

#: Bytes kept of each of stdout and stderr.
MAX_OUTPUT_BYTES = 1024 * 1024
#: Preferred host key types when fetching a key to trust.
_PREFERRED_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")


def fingerprint(host_key: str) -> str:
    """``"ssh-ed25519 AAAA..."`` → ``"SHA256:..."``, as ``ssh-keygen -lf`` shows it."""
    return host_key_parse(host_key).fingerprint


def parse_host_key(host_key: str) -> paramiko.PKey:
    """The pinned key as a paramiko key; ValueError when it cannot be read."""
    try:
        return host_key_parse(host_key).key
    except HostKeyError:
        raise ValueError(
            "The pinned SSH host key cannot be read; an admin must trust the host's key again."
        ) from None


def load_private_key(text: str) -> paramiko.PKey:
    """An Ed25519, ECDSA or RSA private key from OpenSSH or PEM text."""
    data = text.strip().encode() + b"\n"
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProbeFailure(
            f"The environment's SSH private key cannot be read ({_first_line(exc)}); an admin must replace it "
            "with an unencrypted OpenSSH or PEM key."
        ) from None
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise ProbeFailure("The environment's SSH private key is of a type the probes do not support; use Ed25519, ECDSA or RSA.")
    try:
        return key_class.from_private_key(io.StringIO(data.decode()))
    except (paramiko.SSHException, ValueError) as exc:
        raise ProbeFailure(f"The environment's SSH private key cannot be read ({_first_line(exc)}).") from None


def fetch_host_key(host: str, port: int = 22, timeout: float = 10) -> str:
    """The host key a server presents, ``"ssh-ed25519 AAAA..."``, for an admin to trust (nothing is authenticated)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise ProbeFailure(describe_error(exc, host=host, port=port, timeout=timeout)) from None
    transport = paramiko.Transport(sock)
    try:
        options = transport.get_security_options()
        known = list(options.key_types)
        options.key_types = [k for k in _PREFERRED_KEY_TYPES if k in known] + [
            k for k in known if k not in _PREFERRED_KEY_TYPES
        ]
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return host_key_of(transport.get_remote_server_key()).line
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ProbeFailure(describe_error(exc, host=host, port=port, timeout=timeout)) from None
    finally:
        transport.close()


class _RejectAndRemember(paramiko.RejectPolicy):
    """RejectPolicy that keeps the refused key, so the error can name its fingerprint."""

    def __init__(self) -> None:
        self.refused: paramiko.PKey | None = None

    def missing_host_key(self, client, hostname, key):
        self.refused = key
        super().missing_host_key(client, hostname, key)


class SSHSession:
    """One SSH connection used for every ssh probe of a batch, from a single thread."""

    def __init__(self, ssh: SSHTarget | None, *, hosts: tuple[str, ...]) -> None:
        self.ssh = ssh
        #: The environment's hosts: the only ones this session connects to.
        self.hosts = hosts
        self.client: paramiko.SSHClient | None = None
        #: Set when connecting failed; every later probe of the batch ends with it, without reconnecting.
        self.failure: ProbeFailure | None = None

    def check_configured(self) -> None:
        if self.ssh is None or not self.ssh.host:
            raise NotConfigured("No SSH target is configured for this environment.")
        if not self.ssh.host_key:
            raise NotConfigured("No SSH host key is pinned for this environment; an admin must trust one.")
        if not self.ssh.private_key and not self.ssh.password:
            raise NotConfigured("No SSH private key or password is set for this environment.")

    def run(self, command: str, timeout: float) -> dict:
        """Run a command; return the observed EXIT_STATUS, STDOUT and STDERR. Raises ProbeFailure."""
        exit_status, stdout, stderr = self.exec(command, timeout)
        return {
            "EXIT_STATUS": exit_status,
            "STDOUT": stdout.decode("utf-8", errors="replace").strip(),
            "STDERR": stderr.decode("utf-8", errors="replace").strip(),
        }

    def exec(self, command: str, timeout: float) -> tuple[int, bytes, bytes]:
        """Run a command; return its exit status and raw output. Raises ProbeFailure (NotConfigured first)."""
        self.check_configured()
        deadline = time.monotonic() + timeout
        client = self._connected(deadline, timeout)
        transport = client.get_transport()
        try:
            channel = transport.open_session(timeout=_left(deadline))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._drop()
            raise ProbeFailure(self._describe(exc, timeout)) from None
        try:
            channel.settimeout(_left(deadline))
            channel.exec_command(command)
            stdout, stderr = bytearray(), bytearray()
            while True:
                self._drain(channel, stdout, stderr)
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() >= deadline:
                    raise ProbeFailure(f"Timed out after {seconds(timeout)} s.")
                if channel.eof_received:
                    # Only the exit status is still to come; the channel's pipe would wake select at once.
                    channel.status_event.wait(min(0.05, _left(deadline)))
                else:
                    select.select([channel], [], [], min(0.05, _left(deadline)))
            exit_status = channel.recv_exit_status()
        except (socket.timeout, TimeoutError):
            raise ProbeFailure(f"Timed out after {seconds(timeout)} s.") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._drop()
            raise ProbeFailure(self._describe(exc, timeout)) from None
        finally:
            channel.close()
        return exit_status, bytes(stdout), bytes(stderr)

    def close(self) -> None:
        self._drop()

    # --- inside ----------------------------------------------------------

    def _connected(self, deadline: float, timeout: float) -> paramiko.SSHClient:
        if self.failure is not None:
            raise self.failure
        transport = self.client.get_transport() if self.client else None
        if transport is not None and transport.is_active():
            return self.client
        self._drop()
        ssh = self.ssh
        refusal = ssh_host_refusal(ssh.host, self.hosts)
        if refusal:
            raise self._fail(refusal)
        try:
            pinned = parse_host_key(ssh.host_key)
        except ValueError as exc:
            raise self._fail(str(exc))
        pkey = load_private_key(ssh.private_key) if ssh.private_key else None
        policy = _RejectAndRemember()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(policy)
        name = ssh.host if ssh.port == 22 else f"[{ssh.host}]:{ssh.port}"
        client.get_host_keys().add(name, pinned.get_name(), pinned)
        left = _left(deadline)
        try:
            client.connect(
                ssh.host,
                port=ssh.port,
                username=ssh.username,
                pkey=pkey,
                password=None if pkey else ssh.password,
                timeout=left,
                banner_timeout=left,
                auth_timeout=left,
                channel_timeout=left,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise self._fail(self._key_mismatch(exc.key))
        except paramiko.AuthenticationException:
            client.close()
            raise self._fail(
                f"The SSH server at {ssh.host}:{ssh.port} refused the login as `{ssh.username}`; "
                "check the environment's SSH key or password."
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            if policy.refused is not None:
                raise self._fail(self._key_mismatch(policy.refused))
            raise self._fail(self._describe(exc, timeout))
        self.client = client
        return client

    def _key_mismatch(self, key: paramiko.PKey) -> str:
        return (
            f"The SSH host key of {self.ssh.host}:{self.ssh.port} does not match the pinned key "
            f"(got {host_key_of(key).fingerprint}). If the host was rebuilt, an admin must trust the new key."
        )

    def _describe(self, exc: BaseException, timeout: float) -> str:
        return describe_error(exc, host=self.ssh.host, port=self.ssh.port, timeout=timeout)

    def _fail(self, message: str) -> ProbeFailure:
        self.failure = ProbeFailure(message)
        return self.failure

    def _drain(self, channel: paramiko.Channel, stdout: bytearray, stderr: bytearray) -> None:
        while channel.recv_ready():
            data = channel.recv(65536)
            if len(stdout) < MAX_OUTPUT_BYTES:
                stdout.extend(data[: MAX_OUTPUT_BYTES - len(stdout)])
        while channel.recv_stderr_ready():
            data = channel.recv_stderr(65536)
            if len(stderr) < MAX_OUTPUT_BYTES:
                stderr.extend(data[: MAX_OUTPUT_BYTES - len(stderr)])

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _left(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
