import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from checklists.imports import checklist_import
from core.actors import SYSTEM
from core.errors import DomainError
from core.models import Source


class Command(BaseCommand):
    help = "Import a Markdown checklist as a new version (or find the identical one); print the result as JSON."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the Markdown file")
        parser.add_argument("--name", default="", help="the checklist's name (default: the file's `#` title)")

    def handle(self, *args, path: str, name: str, **options):
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            self._refuse(f"Cannot read {path}: {error.strerror or error}.")
        try:
            result = checklist_import(markdown=data, name=name, actor=SYSTEM, source=Source.CLI)
        except DomainError as error:
            self._refuse(f"{path}: {error.message}")
        self.stdout.write(json.dumps(result.as_dict()))

    def _refuse(self, message: str):
        self.stderr.write(message)
        sys.exit(1)
