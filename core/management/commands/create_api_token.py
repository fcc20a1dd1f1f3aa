from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from core.actors import SYSTEM
from core.errors import DomainError
from core.models import ApiToken, Role, Source, Team
from core.teams import membership_set, team_create
from core.tokens import api_token_create, api_token_expiry


class Command(BaseCommand):
    help = (
        "Create a user if missing, put them in a role (within a team with --team, else site-wide), "
        "and print a new API token as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values, help="the role to give them")
        parser.add_argument(
            "--team", default="", help="the slug of the team the role is in (the team is created if missing); "
            "without it the role is site-wide"
        )
        parser.add_argument("--name", default="cli", help="a label for the token, e.g. `ci-pipeline`")
        parser.add_argument(
            "--scope", default=ApiToken.Scope.WRITE, choices=ApiToken.Scope.values,
            help="`read` only reads; `write` (the default) may change what the user's roles allow",
        )
        parser.add_argument("--expires-days", type=int, default=None, help="the token stops working after N days")

    def handle(
        self, *args, username: str, role: str, team: str, name: str, scope: str, expires_days: int | None, **options
    ):
        User = get_user_model()
        username = username.strip()
        if not username:
            raise CommandError("Give a user name.")
        try:
            expires_at = api_token_expiry(expires_days)
        except DomainError as error:
            raise CommandError(error.message) from error
        group = Group.objects.filter(name=role).first()
        if group is None:
            raise CommandError(f"The {role} group is missing; run `python manage.py migrate` first.")
        team = team.strip()
        try:
            with transaction.atomic():
                user, created = User.objects.get_or_create(username=username)
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                if team:
                    owner = Team.objects.filter(slug=team).first()
                    if owner is None:
                        if slugify(team) != team:
                            raise CommandError(f"`{team}` is not a team's slug; give it as `{slugify(team)}`.")
                        owner = team_create(name=team, actor=SYSTEM, source=Source.CLI)
                    membership_set(team=owner, user=user, role=role, actor=SYSTEM, source=Source.CLI)
                else:
                    user.groups.add(group)
                token = api_token_create(user=user, name=name, scope=scope, expires_at=expires_at)
        except DomainError as error:
            raise CommandError(error.message) from None
        where = f"the {role} role in team {team}" if team else f"the {role} role (site-wide)"
        self.stdout.write(f"{'Created' if created else 'Found'} user {username}, in {where}.")
        if not user.is_active:
            self.stderr.write(f"{username} is inactive: the token will not work until the user is activated.")
        expiry = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        self.stdout.write(f"Scope {scope}{expiry}. The token is shown only now; keep it secret:")
        self.stdout.write(token)
