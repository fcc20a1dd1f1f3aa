from django.core.management.base import BaseCommand

from probes.services import runs_prune


class Command(BaseCommand):
    help = (
        "Delete the probe runs that no longer mean anything (per item of a deployment, all but the latest "
        "CTRLREADY_RUNS_KEPT, the runs that changed its state and the run a sign-off saw); print how many."
    )

    def handle(self, *args, **options):
        deleted = runs_prune()
        self.stdout.write(f"Deleted {deleted} probe run{'s' if deleted != 1 else ''}.")
