"""The production shape on this machine, without Docker: docker-compose.yml's commands, as written,
against a PostgreSQL cluster and a redis-server of the test's own (temporary folder, free ports).

Only what a container would change is changed: `python`, `gunicorn` and `celery` are this virtualenv's,
`0.0.0.0:8000` becomes a free loopback port, `/app/` the temporary folder; the environment is compose's
plus what `.env` would hold.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTTPS = {"X-Forwarded-Proto": "https"}  # as the proxy in front says: production settings redirect plain HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def missing_tools() -> str | None:
    if postgres_bin() is None:
        return "needs PostgreSQL's server binaries (apt-get install postgresql)"
    if not shutil.which("redis-server"):
        return "needs redis-server (apt-get install redis-server)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "needs runuser to start PostgreSQL as the postgres user"
    return None


def wait_until(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - a server that is not up yet answers with anything
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class PrivatePostgres:
    """A PostgreSQL cluster in `folder`, on a free port, trusting local connections."""

    def __init__(self, folder: Path):
        self.bin = postgres_bin()
        self.data = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr[-2000:]}")

    def init(self) -> None:
        self.data.mkdir()
        self.log.touch()
        if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to postgres
            shutil.chown(self.data, "postgres")
            shutil.chown(self.log, "postgres")
            for folder in (self.data.parent, self.data.parent.parent):
                os.chmod(folder, 0o755)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off -c full_page_writes=off"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        if not wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close() or True, 10):
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Stack:
    """PostgreSQL, Redis, and compose's services started from their commands as written.

    `admin_token` and the password ADMIN_PASSWORD belong to `admin`, in the admin role.
    """

    ADMIN_PASSWORD = "pw-admin-stack"

    def __init__(self, folder: Path):
        self.folder = folder
        self.compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        self.services = self.compose["services"]
        self.postgres = PrivatePostgres(folder / "postgres")
        self.redis: PrivateRedis | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.web_port = free_port()
        self.database = "ctrlready"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def environment(self) -> dict:
        from cryptography.fernet import Fernet

        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CTRLREADY_"))}
        env.update({key: str(value) for key, value in self.services["web"]["environment"].items()})
        env.update(
            DATABASE_URL=self.postgres.url(self.database),
            REDIS_URL=f"redis://127.0.0.1:{self.redis.port}/0",
            # What .env holds in production:
            SECRET_KEY="stack-test-" + "k" * 50,
            CTRLREADY_SECRET_KEYS=Fernet.generate_key().decode(),
            ALLOWED_HOSTS="127.0.0.1",
            STATIC_ROOT=str(self.folder / "static"),
            CTRLREADY_SWEEP_SECONDS="1",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(self, service: str) -> list[str]:
        written = self.services[service]["command"]
        out = []
        for part in written:
            part = sys.executable if part == "python" else part
            part = part.replace("0.0.0.0:8000", f"127.0.0.1:{self.web_port}")
            part = part.replace("/app/", f"{self.folder}/")
            out.append(part)
        return out

    def run(self, *command: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable if command[0] == "python" else command[0], *command[1:]],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start_service(self, service: str) -> None:
        log = open(self.folder / f"{service}.log", "ab")  # noqa: SIM115 - closed when the stack stops
        self.processes[service] = subprocess.Popen(
            self.command(service), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, service: str) -> str:
        return (self.folder / f"{service}.log").read_text(errors="replace")

    def up(self) -> Stack:
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database(self.database)
        self.redis = PrivateRedis()
        self.env = self.environment()
        (self.folder / "var").mkdir()  # the image's /app/var, where beat keeps its schedule
        # The image runs collectstatic when it is built (Dockerfile); production settings need its manifest.
        collect = subprocess.Popen(
            [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.run(*self.command("migrate"))
        self.admin_token = self.token("admin", "admin")
        self.run(
            "python", "manage.py", "shell", "-c",
            "from django.contrib.auth.models import User; u = User.objects.get(username='admin'); "
            f"u.set_password('{self.ADMIN_PASSWORD}'); u.save()",
        )
        if collect.wait(timeout=120) != 0:
            raise RuntimeError(f"collectstatic failed: {collect.stderr.read()[-2000:]}")
        for service in ("web", "worker", "beat"):
            self.start_service(service)
        up = wait_until(lambda: httpx.get(f"{self.base}/health", timeout=2).status_code == 200, 60)
        ready = wait_until(lambda: " ready." in self.log("worker"), 60)
        if not (up and ready):
            raise RuntimeError(f"The stack did not come up:\n{self.log('web')[-2000:]}\n{self.log('worker')[-2000:]}")
        return self

    def down(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres.running():
            self.postgres.stop()

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.postgres.url(self.database), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def token(self, username: str, role: str) -> str:
        return self.run("python", "manage.py", "create_api_token", username, "--role", role).strip().splitlines()[-1]

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1/", headers={**HTTPS, "Authorization": f"Bearer {token}"}, timeout=10
        )

    def login(self, username: str, password: str) -> httpx.Client:
        """A browser-like client with a session (cookies sent by hand: production cookies are `Secure`)."""
        origin = f"https://127.0.0.1:{self.web_port}"
        login = httpx.get(f"{self.base}/accounts/login/", headers=HTTPS, timeout=10)
        csrf = login.cookies["csrftoken"]
        answer = httpx.post(
            f"{self.base}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
            headers={**HTTPS, "Cookie": f"csrftoken={csrf}", "Origin": origin, "Referer": origin + "/accounts/login/"},
            timeout=10,
        )
        session = answer.cookies.get("sessionid")
        if answer.status_code != 302 or not session:
            raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:500]}")
        return httpx.Client(
            base_url=self.base, headers={**HTTPS, "Cookie": f"sessionid={session}; csrftoken={csrf}"}, timeout=10
        )
