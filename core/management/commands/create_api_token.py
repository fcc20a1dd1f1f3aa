from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.models import Role
from core.tokens import api_token_create


class Command(BaseCommand):
    help = "Create a user if missing, put them in a role, and print a new API token as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values, help="the role (group) to put them in")
        parser.add_argument("--name", default="cli", help="a label for the token, e.g. `ci-pipeline`")

    def handle(self, *args, username: str, role: str, name: str, **options):
        User = get_user_model()
        username = username.strip()
        if not username:
            raise CommandError("Give a user name.")
        group = Group.objects.filter(name=role).first()
        if group is None:
            raise CommandError(f"The {role} group is missing; run `python manage.py migrate` first.")
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            user.groups.add(group)
            token = api_token_create(user=user, name=name)
        self.stdout.write(f"{'Created' if created else 'Found'} user {username}, in the {role} role.")
        if not user.is_active:
            self.stderr.write(f"{username} is inactive: the token will not work until the user is activated.")
        self.stdout.write("The token is shown only now; keep it secret:")
        self.stdout.write(token)
