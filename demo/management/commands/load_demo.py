from django.core.management.base import BaseCommand
from django.db import transaction

from core.actors import SYSTEM
from core.errors import Unavailable
from core.models import Source
from demo.loader import DEMO_LOGINS, demo_load
from probes.services import runs_request


class Command(BaseCommand):
    help = "Load the bundled checklist, demo users, the local-demo environment and an open deployment; queue its probes."

    def add_arguments(self, parser):
        parser.add_argument("--target-port", type=int, default=8001, help="where the demo target listens")
        parser.add_argument("--no-probes", action="store_true", help="do not queue the deployment's probes")

    def handle(self, *args, target_port, no_probes, **options):
        demo = demo_load(target_port=target_port)
        deployment = demo.deployment
        self.stdout.write(f"Deployment {deployment.pk}: {deployment.release} → {deployment.environment}")
        if not no_probes:
            try:
                with transaction.atomic():
                    queued = runs_request(deployment_id=deployment.pk, keys=None, actor=SYSTEM, source=Source.CLI)
                self.stdout.write(f"Queued {queued} probes; a worker will run them.")
            except Unavailable as error:
                self.stderr.write(error.message)
        self.stdout.write("Logins (username / password):")
        for who, (username, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {who:<20} {username} / {password}")
