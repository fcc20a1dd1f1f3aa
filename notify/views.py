"""The notifications page: subscriptions with their deliveries, the forms that change them, and one's own email setting."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from checklists.models import Environment, Service
from checklists.views.common import viewer_required
from core import roles
from core.errors import InvalidInput
from core.models import Team
from notify import selectors, services
from notify.kinds import KINDS
from notify.models import Subscription


def _page(request, *, created=None, status=200):
    subscriptions = services.subscriptions_visible(request.user)
    shown = selectors.deliveries_by_subscription(subscriptions)
    for subscription in subscriptions:
        subscription.shown_deliveries = shown[subscription.pk]
    return render(
        request,
        "notify/notifications.html",
        {
            "subscriptions": subscriptions,
            "personal": selectors.personal_deliveries(request.user),
            "email_on": services.personal_email_enabled(request.user),
            "may_subscribe": roles.can(request.user, "subscribe", team=roles.ANY),
            "channels": Subscription.Channel.values,
            "kinds": KINDS,
            "teams": Team.objects.order_by("name"),
            "services": Service.objects.filter(roles.readable_q(request.user, "team")).order_by("name"),
            "environments": Environment.objects.filter(roles.readable_q(request.user, "service__team"))
            .select_related("service").order_by("service__name", "name"),
            "created": created,
        },
        status=status,
    )


@require_GET
@viewer_required
def notifications(request):
    return _page(request)


@require_POST
@viewer_required
def subscription_create(request):
    environment = request.POST.get("environment", "").strip()
    if environment and not environment.isdigit():
        raise InvalidInput("Choose an environment from the list.")
    created = services.subscription_create(
        channel=request.POST.get("channel", ""),
        target=request.POST.get("target", ""),
        events=request.POST.getlist("events") or "all",
        team=request.POST.get("team", "").strip(),
        service=request.POST.get("service", "").strip(),
        environment=int(environment) if environment else None,
        actor=request.user,
    )
    messages.success(request, f"Subscribed {created.subscription.channel} {created.subscription.target}.")
    return _page(request, created=created, status=201 if not request.htmx else 200)


@require_POST
@viewer_required
def subscription_delete(request, pk: int):
    services.subscription_delete(subscription_id=pk, actor=request.user)
    messages.success(request, "The subscription is deleted; nothing more is sent to it.")
    return redirect("notifications")


@require_POST
@viewer_required
def delivery_redeliver(request, pk):
    services.delivery_redeliver(delivery_id=pk, actor=request.user)
    messages.success(request, "Queued again: it is sent with the same delivery id.")
    return redirect("notifications")


@require_POST
@viewer_required
def personal_email(request):
    enabled = request.POST.get("email") == "on"
    services.personal_email_set(user=request.user, enabled=enabled)
    messages.success(
        request,
        "You will get an email when you are assigned an item or mentioned." if enabled
        else "No more emails when you are assigned an item or mentioned.",
    )
    return redirect("notifications")
