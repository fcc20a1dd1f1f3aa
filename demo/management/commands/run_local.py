"""Serve the dashboard with a Celery worker, beat and the demo target beside it; Ctrl-C stops all of it."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from demo.loader import DEMO_DNS_PORT, DEMO_LOGINS


class Command(BaseCommand):
    help = "Run the web server, a Celery worker, beat and the demo target until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--target-port", type=int, default=8001)
        parser.add_argument("--dns-port", type=int, default=DEMO_DNS_PORT)

    def handle(self, *args, addr, target_port, dns_port, **options):
        python = sys.executable
        commands = {
            "demo-target": [python, "-m", "demo.target", "--port", str(target_port), "--dns-port", str(dns_port)],
            "worker": [python, "-m", "celery", "-A", "ctrlready", "worker", "--loglevel", "INFO", "--concurrency", "2"],
            "beat": [python, "-m", "celery", "-A", "ctrlready", "beat", "--loglevel", "INFO"],
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
        }
        processes = {}
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)
        self.stdout.write(f"ctrlready is at http://{addr}/  (Ctrl-C stops everything)")
        for who, (username, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {who:<20} {username} / {password}")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with status {process.returncode}; stopping the rest.")
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
