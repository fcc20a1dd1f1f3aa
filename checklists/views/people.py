"""Who is in which role: a read-only page for admins (roles are changed in the Django admin)."""

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.views.common import viewer_required
from core import roles
from core.errors import Forbidden
from core.models import ROLE_ORDER


@require_GET
@viewer_required
def people(request):
    if not roles.can(request.user, "manage", team=None):
        raise Forbidden("This page needs the site-wide admin role: it lists the site-wide roles (teams' roles are on /teams/).")
    users = list(get_user_model().objects.prefetch_related("groups").order_by("username"))
    groups = {role.value: [] for role in reversed(ROLE_ORDER)}
    without = []
    for user in users:
        names = [group.name for group in user.groups.all() if group.name in groups]
        for name in names:
            groups[name].append(user)
        if not names and not user.is_superuser:
            without.append(user)
    superusers = [user for user in users if user.is_superuser]
    return render(
        request,
        "checklists/people.html",
        {"groups": list(groups.items()), "without": without, "superusers": superusers},
    )
